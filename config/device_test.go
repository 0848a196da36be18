package config

import (
	"strings"
	"testing"
	"time"
)

func TestDeviceKeys(t *testing.T) {
	c := Default()
	if c.Auth.DeviceTTL.Std() != 90*24*time.Hour || c.Auth.AccessTTL.Std() != 15*time.Minute {
		t.Fatalf("defaults: %s %s", c.Auth.DeviceTTL, c.Auth.AccessTTL)
	}
	for _, tc := range []struct {
		set   func(*Config)
		field string
	}{
		{func(c *Config) { c.Auth.AccessTTL = Duration(9 * time.Second) }, "auth.access_ttl"},
		{func(c *Config) { c.Auth.DeviceTTL = 0 }, "auth.device_ttl"},
	} {
		c := Default()
		tc.set(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
	c.Auth.AccessTTL = Duration(10 * time.Second)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestClientAuthKeys(t *testing.T) {
	for _, tc := range []struct {
		tls   TLS
		field string
	}{
		{TLS{Mode: TLSManual, CertFile: "c", KeyFile: "k", ClientAuth: "maybe", ClientCA: "ca"}, "tls.client_auth"},
		{TLS{Mode: TLSManual, CertFile: "c", KeyFile: "k", ClientAuth: ClientAuthRequire}, "tls.client_ca"},
		{TLS{Mode: TLSOff, ClientAuth: ClientAuthOptional, ClientCA: "ca"}, "tls.client_auth"},
	} {
		c := Default()
		c.TLS = tc.tls
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: %v, want %s", tc.tls, err, tc.field)
		}
	}
}
