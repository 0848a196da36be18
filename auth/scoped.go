package auth

import (
	"context"
	"time"

	"github.com/syncspace/syncspace/sync/pathscope"
)

// TenantTokenRequest is what IssueTenant issues: a tenant token for Subject with Role,
// valid for TTL, limited to the subtrees Paths when any (SPEC §7.5, the paths claim).
type TenantTokenRequest struct {
	Tenant  string
	Subject string
	Role    string
	TTL     time.Duration
	Paths   []string
}

// IssueTenant issues and records a tenant token as IssueTenantToken does, with a path
// scope when r.Paths is not empty: the prefixes are cleaned (invalid_path for a bad
// one, bad_request past pathscope.MaxPrefixes) and stored in canonical form.
func (s *Service) IssueTenant(ctx context.Context, r TenantTokenRequest) (string, TokenRecord, error) {
	sc, err := pathscope.Parse(r.Paths)
	if err != nil {
		return "", TokenRecord{}, err
	}
	return s.issueTenant(ctx, r.Tenant, r.Subject, r.Role, r.TTL, sc.Paths())
}
