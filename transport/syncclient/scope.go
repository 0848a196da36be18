package syncclient

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/syncspace/syncspace/sync/engine"
)

var _ engine.PathScoper = (*Client)(nil)

// PathScoped implements engine.PathScoper: it reports whether the token in use carries
// a `paths` claim (SPEC §7.5), read without verification (the server verifies). The
// engine then takes the gaps in seq of the changes feed and the events that share one
// seq as the server's answer for a scoped reader, not as lost events. A token that
// cannot be read counts as unscoped.
func (c *Client) PathScoped() bool {
	return tokenHasPaths(c.Token())
}

// tokenHasPaths reports whether the JWT tok has a non-empty `paths` claim.
func tokenHasPaths(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 8<<10 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return false
	}
	var claims struct {
		Paths []string `json:"paths"`
	}
	return json.Unmarshal(b, &claims) == nil && len(claims.Paths) > 0
}
