package config

import "time"

// minAccessTTL is the shortest auth.access_ttl accepted.
const minAccessTTL = 10 * time.Second

// validateDevice checks the device credential keys: auth.device_ttl positive,
// auth.access_ttl at least 10s.
func (c *Config) validateDevice() error {
	if c.Auth.DeviceTTL <= 0 {
		return fieldErr("auth.device_ttl", "must be positive, got %s", c.Auth.DeviceTTL)
	}
	if time.Duration(c.Auth.AccessTTL) < minAccessTTL {
		return fieldErr("auth.access_ttl", "must be at least %s, got %s", minAccessTTL, c.Auth.AccessTTL)
	}
	return nil
}
