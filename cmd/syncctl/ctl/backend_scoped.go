//go:build !windows

package ctl

import (
	"context"
	"strings"
	"time"

	"github.com/syncspace/syncspace/auth"
)

// IssueScopedToken issues a tenant token limited to paths, in local mode.
func (l *local) IssueScopedToken(ctx context.Context, tenant, subject, role string, ttl time.Duration, paths []string) (issued, error) {
	tok, rec, err := l.svc.IssueTenant(ctx, auth.TenantTokenRequest{Tenant: tenant, Subject: subject, Role: role, TTL: ttl, Paths: paths})
	target := tenant + "/" + subject
	if err == nil {
		target += " jti=" + rec.JTI + " paths=" + strings.Join(rec.Paths, ",")
	}
	l.audit(ctx, "token.issue", target, err)
	return issued{Token: tok, JTI: rec.JTI, ExpiresAt: rec.ExpiresAt}, err
}
