package adminclient

import (
	"context"
	"time"
)

// IssueScopedToken issues a tenant token limited to the subtrees paths (POST
// /admin/tokens with "paths"). ttl 0 leaves the server's default.
func (c *Client) IssueScopedToken(ctx context.Context, tenant, subject, role string, ttl time.Duration, paths []string) (Issued, error) {
	in := map[string]any{"tenant": tenant, "subject": subject, "role": role, "paths": paths}
	if ttl != 0 {
		in["ttl"] = ttl.String()
	}
	var out Issued
	err := c.call(ctx, "POST", "/tokens", nil, in, &out)
	return out, err
}
