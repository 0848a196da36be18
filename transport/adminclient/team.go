package adminclient

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/syncspace/syncspace/auth"
)

// The team routes (transport/team) are called with a tenant admin token instead of
// an ops token; the tenant is always the token's.

// TeamIssue is the request of TeamIssueToken.
type TeamIssue struct {
	Subject string
	Role    string
	TTL     time.Duration // 0: the server's default
	Paths   []string
}

// TeamIssued is a token issued by a tenant admin.
type TeamIssued struct {
	Token     string    `json:"token"`
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expires_at"`
	Paths     []string  `json:"paths,omitempty"`
}

// TeamIssueToken issues a token of the admin's tenant (POST /api/team/tokens).
func (c *Client) TeamIssueToken(ctx context.Context, r TeamIssue) (TeamIssued, error) {
	in := map[string]any{"subject": r.Subject, "role": r.Role}
	if r.TTL != 0 {
		in["ttl"] = r.TTL.String()
	}
	if len(r.Paths) > 0 {
		in["paths"] = r.Paths
	}
	var out TeamIssued
	err := c.callAt(ctx, "POST", "/api/team/tokens", nil, in, &out)
	return out, err
}

// TeamTokens lists the tenant's unexpired tokens (GET /api/team/tokens).
func (c *Client) TeamTokens(ctx context.Context) ([]auth.TokenRecord, error) {
	var out struct {
		Tokens []auth.TokenRecord `json:"tokens"`
	}
	err := c.callAt(ctx, "GET", "/api/team/tokens", nil, nil, &out)
	return out.Tokens, err
}

// TeamRevokeToken revokes one of the tenant's tokens (DELETE /api/team/tokens/{jti}).
func (c *Client) TeamRevokeToken(ctx context.Context, jti string) error {
	return c.callAt(ctx, "DELETE", "/api/team/tokens/"+url.PathEscape(jti), nil, nil, nil)
}

// TeamRevokeSubject revokes every token subject holds now on the tenant (POST
// /api/team/revocations) and returns how many.
func (c *Client) TeamRevokeSubject(ctx context.Context, subject string) (int, error) {
	var out struct {
		Revoked int `json:"revoked"`
	}
	err := c.callAt(ctx, "POST", "/api/team/revocations", nil, map[string]string{"subject": subject}, &out)
	return out.Revoked, err
}

// TeamAudit returns the newest limit entries of the tenant's audit log (0: the
// server's default).
func (c *Client) TeamAudit(ctx context.Context, limit int) ([]auth.AuditEntry, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Entries []auth.AuditEntry `json:"entries"`
	}
	err := c.callAt(ctx, "GET", "/api/team/audit", q, nil, &out)
	return out.Entries, err
}

// TeamEnrollDevice enrolls a device of the admin's tenant (POST /api/team/tokens with
// "device") and returns the device credential JSON as the server wrote it.
func (c *Client) TeamEnrollDevice(ctx context.Context, subject, role, device string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.callAt(ctx, "POST", "/api/team/tokens", nil, map[string]string{"subject": subject, "role": role, "device": device}, &out)
	return out, err
}

// TeamDevices lists the tenant's devices (GET /api/team/devices).
func (c *Client) TeamDevices(ctx context.Context) ([]auth.DeviceRecord, error) {
	var out struct {
		Devices []auth.DeviceRecord `json:"devices"`
	}
	err := c.callAt(ctx, "GET", "/api/team/devices", nil, nil, &out)
	return out.Devices, err
}

// TeamRevokeDevice revokes the tenant's device named by id or name (POST
// /api/team/revocations with "device") and returns how many were revoked.
func (c *Client) TeamRevokeDevice(ctx context.Context, device string) (int, error) {
	var out struct {
		Revoked int `json:"revoked"`
	}
	err := c.callAt(ctx, "POST", "/api/team/revocations", nil, map[string]string{"device": device}, &out)
	return out.Revoked, err
}
