package config

import (
	"strings"
	"testing"
)

func TestWebSection(t *testing.T) {
	if c := Default(); !c.Web.Enabled || c.Web.PublicURL != "" {
		t.Fatalf("default web = %+v, want enabled with no public_url", c.Web)
	}
	c, err := Parse([]byte(`{"web":{"public_url":"https://sync.example.com/files/"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Web.Enabled || c.Web.PublicURL != "https://sync.example.com/files/" {
		t.Fatalf("web = %+v", c.Web)
	}
	if c, err = Parse([]byte(`{"web":{"enabled":false}}`), nil); err != nil || c.Web.Enabled {
		t.Fatalf("enabled false: %+v %v", c, err)
	}
	tests := []struct {
		name, doc, field string // field "" = valid
	}{
		{"http loopback", `{"web":{"public_url":"http://127.0.0.1:8080"}}`, ""},
		{"https with port", `{"web":{"public_url":"https://sync.example.com:8443"}}`, ""},
		// Attacks: what would put a token somewhere else or break the link.
		{"javascript scheme", `{"web":{"public_url":"javascript:alert(1)"}}`, "web.public_url"},
		{"no scheme", `{"web":{"public_url":"sync.example.com"}}`, "web.public_url"},
		{"ftp", `{"web":{"public_url":"ftp://sync.example.com"}}`, "web.public_url"},
		{"user info", `{"web":{"public_url":"https://evil@sync.example.com"}}`, "web.public_url"},
		{"query", `{"web":{"public_url":"https://sync.example.com/?x=1"}}`, "web.public_url"},
		{"fragment", `{"web":{"public_url":"https://sync.example.com/#a"}}`, "web.public_url"},
		{"empty query", `{"web":{"public_url":"https://sync.example.com/?"}}`, "web.public_url"},
		{"no host", `{"web":{"public_url":"https:///x"}}`, "web.public_url"},
		{"space", `{"web":{"public_url":"https://sync.example.com/a b"}}`, "web.public_url"},
		{"newline", `{"web":{"public_url":"https://sync.example.com/\n"}}`, "web.public_url"},
		{"number", `{"web":{"public_url":8080}}`, "web.public_url"},
		{"string for bool", `{"web":{"enabled":"yes"}}`, "web.enabled"},
		{"unknown key", `{"web":{"root":"/srv"}}`, "web.root"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.doc), nil)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err %v, want one naming %s", tc.name, err, tc.field)
		}
	}
}

func TestPublicURL(t *testing.T) {
	tests := []struct {
		doc, want string
		derived   bool
	}{
		{`{}`, "http://127.0.0.1:8080", true},
		{`{"web":{"public_url":"https://files.example.com/sync/"}}`, "https://files.example.com/sync", false},
		{`{"listen":"[::1]:80"}`, "http://[::1]", true},
		{`{"listen":"[::1]:8080"}`, "http://[::1]:8080", true},
		{`{"listen":":443","tls":{"mode":"manual","cert_file":"c","key_file":"k"}}`, "https://localhost", true},
		{`{"listen":"0.0.0.0:8443","tls":{"mode":"acme","domains":["sync.example.com"]}}`, "https://sync.example.com:8443", true},
	}
	for _, tc := range tests {
		c, err := Parse([]byte(tc.doc), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.doc, err)
		}
		if got, derived := c.PublicURL(); got != tc.want || derived != tc.derived {
			t.Errorf("%s: %q %v, want %q %v", tc.doc, got, derived, tc.want, tc.derived)
		}
	}
}
