package adminclient

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/tenants"
)

// NewTenant is a tenant to create. Zero Quota, MaxFileSize or MaxEntries leave the
// server's default.
type NewTenant struct {
	Name                           string
	Quota, MaxFileSize, MaxEntries int64
}

// CreateTenant creates a tenant (POST /admin/tenants).
func (c *Client) CreateTenant(ctx context.Context, nt NewTenant) (tenants.Tenant, error) {
	in := map[string]any{"name": nt.Name}
	if nt.Quota != 0 {
		in["quota"] = nt.Quota
	}
	if nt.MaxFileSize != 0 {
		in["max_file_size"] = nt.MaxFileSize
	}
	if nt.MaxEntries != 0 {
		in["max_entries"] = nt.MaxEntries
	}
	var t tenants.Tenant
	err := c.call(ctx, "POST", "/tenants", nil, in, &t)
	return t, err
}

// ListTenants lists the tenants (GET /admin/tenants).
func (c *Client) ListTenants(ctx context.Context) ([]tenants.Tenant, error) {
	var out struct {
		Tenants []tenants.Tenant `json:"tenants"`
	}
	err := c.call(ctx, "GET", "/tenants", nil, nil, &out)
	return out.Tenants, err
}

// DeleteTenant deletes a tenant and its files (DELETE /admin/tenants/{name}).
func (c *Client) DeleteTenant(ctx context.Context, name string) error {
	return c.call(ctx, "DELETE", "/tenants/"+url.PathEscape(name), nil, nil, nil)
}

// Issued is a new token and what to tell about it.
type Issued struct {
	Token     string    `json:"token"`
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expires_at"`
}

// IssueToken issues a tenant token (POST /admin/tokens). ttl 0 leaves the server's
// default.
func (c *Client) IssueToken(ctx context.Context, tenant, subject, role string, ttl time.Duration) (Issued, error) {
	in := map[string]any{"tenant": tenant, "subject": subject, "role": role}
	if ttl != 0 {
		in["ttl"] = ttl.String()
	}
	var out Issued
	err := c.call(ctx, "POST", "/tokens", nil, in, &out)
	return out, err
}

// ListTokens lists token records (GET /admin/tokens).
func (c *Client) ListTokens(ctx context.Context, f auth.TokenFilter) ([]auth.TokenRecord, error) {
	q := url.Values{}
	if f.Tenant != "" {
		q.Set("tenant", f.Tenant)
	}
	if f.Ops {
		q.Set("ops", "true")
	}
	if f.Subject != "" {
		q.Set("subject", f.Subject)
	}
	if f.IncludeExpired {
		q.Set("all", "true")
	}
	var out struct {
		Tokens []auth.TokenRecord `json:"tokens"`
	}
	err := c.call(ctx, "GET", "/tokens", q, nil, &out)
	return out.Tokens, err
}

// RevokeJTI revokes one token (DELETE /admin/tokens/{jti}).
func (c *Client) RevokeJTI(ctx context.Context, jti string) error {
	return c.call(ctx, "DELETE", "/tokens/"+url.PathEscape(jti), nil, nil, nil)
}

// RevokeSubject revokes every token subject holds now in tenant, or every ops token
// of subject when tenant is "" (POST /admin/revocations). It returns how many.
func (c *Client) RevokeSubject(ctx context.Context, tenant, subject string) (int, error) {
	in := map[string]any{"subject": subject}
	if tenant == "" {
		in["ops"] = true
	} else {
		in["tenant"] = tenant
	}
	var out struct {
		Revoked int `json:"revoked"`
	}
	err := c.call(ctx, "POST", "/revocations", nil, in, &out)
	return out.Revoked, err
}

// RotateKey makes a new signing key current (POST /admin/keys/rotate).
func (c *Client) RotateKey(ctx context.Context) (auth.KeyInfo, error) {
	var k auth.KeyInfo
	err := c.call(ctx, "POST", "/keys/rotate", nil, nil, &k)
	return k, err
}

// ListKeys lists the signing keys (GET /admin/keys).
func (c *Client) ListKeys(ctx context.Context) ([]auth.KeyInfo, error) {
	var out struct {
		Keys []auth.KeyInfo `json:"keys"`
	}
	err := c.call(ctx, "GET", "/keys", nil, nil, &out)
	return out.Keys, err
}

// RetireKey retires a signing key: tokens it signed stop working (POST
// /admin/keys/{kid}/retire).
func (c *Client) RetireKey(ctx context.Context, kid string) error {
	return c.call(ctx, "POST", "/keys/"+url.PathEscape(kid)+"/retire", nil, nil, nil)
}

// ListAudit returns the newest limit audit entries, oldest first (GET /admin/audit);
// limit 0 leaves the server's default.
func (c *Client) ListAudit(ctx context.Context, limit int) ([]auth.AuditEntry, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Entries []auth.AuditEntry `json:"entries"`
	}
	err := c.call(ctx, "GET", "/audit", q, nil, &out)
	return out.Entries, err
}
