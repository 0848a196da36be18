package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ValidatePublicURL checks a web.public_url: an absolute http or https URL with a
// host, optionally a path prefix, and no user info, query or fragment.
func ValidatePublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, " \t\r\n#?") {
		return fmt.Errorf("not an http(s) URL such as \"https://sync.example.com\": %q", s)
	}
	return nil
}

// PublicURL returns the URL users open (SPEC §7.2's PUBLIC_URL) without a trailing
// slash: web.public_url when set, else derived from listen and tls.mode (https for
// manual and acme, the first ACME domain as host in acme mode, "localhost" for an
// all-interfaces address; default ports left out). derived reports the second case,
// in which the result may not be what users outside this host can reach.
func (c *Config) PublicURL() (u string, derived bool) {
	if c.Web.PublicURL != "" {
		return strings.TrimRight(c.Web.PublicURL, "/"), false
	}
	scheme, defPort := "http", "80"
	if c.TLS.Mode == TLSManual || c.TLS.Mode == TLSACME {
		scheme, defPort = "https", "443"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		host, port = c.Listen, ""
	}
	if c.TLS.Mode == TLSACME && len(c.TLS.Domains) > 0 {
		host = c.TLS.Domains[0]
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	hp := host
	if port != "" && port != defPort {
		hp = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		hp = "[" + host + "]"
	}
	return scheme + "://" + hp, true
}
