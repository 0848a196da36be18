package config

import "time"

// minAccessTTL is the shortest auth.access_ttl accepted.
const minAccessTTL = 10 * time.Second

// Values of tls.client_auth.
const (
	ClientAuthOff      = "off"
	ClientAuthOptional = "optional"
	ClientAuthRequire  = "require"
)

// validateDevice checks the device credential and client certificate keys:
// auth.device_ttl positive, auth.access_ttl at least 10s, tls.client_auth one of
// off/optional/require and, unless off, with tls.client_ca and TLS on.
func (c *Config) validateDevice() error {
	if c.Auth.DeviceTTL <= 0 {
		return fieldErr("auth.device_ttl", "must be positive, got %s", c.Auth.DeviceTTL)
	}
	if time.Duration(c.Auth.AccessTTL) < minAccessTTL {
		return fieldErr("auth.access_ttl", "must be at least %s, got %s", minAccessTTL, c.Auth.AccessTTL)
	}
	switch c.TLS.ClientAuth {
	case "", ClientAuthOff:
		return nil
	case ClientAuthOptional, ClientAuthRequire:
	default:
		return fieldErr("tls.client_auth", "must be \"off\", \"optional\" or \"require\", got %q", c.TLS.ClientAuth)
	}
	if c.TLS.ClientCA == "" {
		return fieldErr("tls.client_ca", "required when tls.client_auth is %s", c.TLS.ClientAuth)
	}
	if c.TLS.Mode == "" || c.TLS.Mode == TLSOff {
		return fieldErr("tls.client_auth", "needs tls.mode manual or acme")
	}
	return nil
}
