package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Validate checks c and returns an *Error naming the first field at fault. Mode ""
// counts as "off". Plain HTTP on a non-loopback listen address is accepted only when
// TLSModeExplicit is set with mode "off" (syncd then warns loudly).
func (c *Config) Validate() error {
	for _, check := range []func() error{
		c.validateAddrs, c.validateLog, c.validateTLS, c.validateAuth,
		c.validateLimits, c.validateConnLimits, c.validateWeb,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateAddrs checks listen, admin_listen, data_dir and trusted_proxies.
func (c *Config) validateAddrs() error {
	if err := validateListen("listen", c.Listen); err != nil {
		return err
	}
	if c.AdminListen != "" {
		if err := validateListen("admin_listen", c.AdminListen); err != nil {
			return err
		}
		if c.AdminListen == c.Listen {
			return fieldErr("admin_listen", "must differ from listen")
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return fieldErr("data_dir", "must not be empty")
	}
	if strings.ContainsRune(c.DataDir, 0) {
		return fieldErr("data_dir", "must not contain NUL")
	}
	_, err := c.TrustedProxyPrefixes()
	return err
}

// validateLog checks the log section.
func (c *Config) validateLog() error {
	if _, err := c.SlogLevel(); err != nil {
		return err
	}
	switch c.Log.Format {
	case "text", "json":
		return nil
	default:
		return fieldErr("log.format", "must be \"text\" or \"json\", got %q", c.Log.Format)
	}
}

// validateAuth checks the auth section.
func (c *Config) validateAuth() error {
	if strings.TrimSpace(c.Auth.Issuer) == "" {
		return fieldErr("auth.issuer", "must not be empty")
	}
	if c.Auth.MaxTTL <= 0 {
		return fieldErr("auth.max_ttl", "must be positive, got %s", c.Auth.MaxTTL)
	}
	if c.Auth.MaxOpsTTL <= 0 {
		return fieldErr("auth.max_ops_ttl", "must be positive, got %s", c.Auth.MaxOpsTTL)
	}
	if err := c.validateDevice(); err != nil {
		return err
	}
	if strings.ContainsRune(c.Auth.KeyDir, 0) {
		return fieldErr("auth.key_dir", "must not contain NUL")
	}
	return nil
}

// validateLimits checks the limits, retention and websocket numbers (the connection
// limits apart: validateConnLimits).
func (c *Config) validateLimits() error {
	positive := []struct {
		name string
		v    int64
	}{
		{"limits.max_file_size", int64(c.Limits.MaxFileSize)},
		{"limits.max_entries", c.Limits.MaxEntries},
		{"limits.ws_max_frame", c.Limits.WSMaxFrame},
		{"limits.ws_send_queue", int64(c.Limits.WSSendQueue)},
		{"limits.ws_per_token", int64(c.Limits.WSPerToken)},
		{"limits.max_connections", int64(c.Limits.MaxConnections)},
		{"limits.max_connections_per_ip", int64(c.Limits.MaxConnectionsPerIP)},
		{"limits.body_min_rate", int64(c.Limits.BodyMinRate)},
		{"limits.body_window", int64(c.Limits.BodyWindow)},
		{"limits.stream_stall", int64(c.Limits.StreamStall)},
		{"retention.changes", c.Retention.Changes},
		{"websocket.ping_interval", int64(c.WebSocket.PingInterval)},
		{"websocket.pong_timeout", int64(c.WebSocket.PongTimeout)},
		{"websocket.idle_timeout", int64(c.WebSocket.IdleTimeout)},
		{"retention.versions", int64(c.Retention.Versions)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fieldErr(p.name, "must be positive")
		}
	}
	if c.Limits.MinFreeDisk < 0 {
		return fieldErr("limits.min_free_disk", "must not be negative")
	}
	if c.Limits.WSMaxFrame < 8192 {
		return fieldErr("limits.ws_max_frame", "must be at least 8192 bytes")
	}
	if c.Limits.WSMaxFrame > 64<<20 {
		return fieldErr("limits.ws_max_frame", "must be at most 64MiB")
	}
	if c.Limits.WSSendQueue > MaxWSSendQueue {
		return fieldErr("limits.ws_send_queue", "must be at most %d", MaxWSSendQueue)
	}
	return nil
}

// validateWeb checks the websocket timing and origins and the web section.
func (c *Config) validateWeb() error {
	if c.WebSocket.PongTimeout <= c.WebSocket.PingInterval {
		return fieldErr("websocket.pong_timeout", "must be longer than websocket.ping_interval (%s)", c.WebSocket.PingInterval)
	}
	for i, o := range c.WebSocket.AllowedOrigins {
		if err := validateOrigin(o); err != nil {
			return fieldErr(fmt.Sprintf("websocket.allowed_origins[%d]", i), "%v", err)
		}
	}
	if c.Web.PublicURL != "" {
		if err := ValidatePublicURL(c.Web.PublicURL); err != nil {
			return fieldErr("web.public_url", "%v", err)
		}
	}
	return c.validateCluster()
}

func (c *Config) validateTLS() error {
	mode := c.TLS.Mode
	switch mode {
	case "", TLSOff:
		if !IsLoopback(c.Listen) && !(c.TLSModeExplicit && mode == TLSOff) {
			return fieldErr("tls.mode", "plain HTTP on non-loopback address %q needs \"tls\":{\"mode\":\"off\"} written out (only behind a TLS proxy); use \"manual\" or \"acme\" otherwise", c.Listen)
		}
		if c.AdminListen != "" && !IsLoopback(c.AdminListen) && !(c.TLSModeExplicit && mode == TLSOff) {
			return fieldErr("tls.mode", "plain HTTP on non-loopback admin_listen %q needs \"tls\":{\"mode\":\"off\"} written out", c.AdminListen)
		}
	case TLSManual:
		if strings.TrimSpace(c.TLS.CertFile) == "" {
			return fieldErr("tls.cert_file", "required in manual mode")
		}
		if strings.TrimSpace(c.TLS.KeyFile) == "" {
			return fieldErr("tls.key_file", "required in manual mode")
		}
	case TLSACME:
		if len(c.TLS.Domains) == 0 {
			return fieldErr("tls.domains", "at least one domain is required in acme mode")
		}
		seen := map[string]bool{}
		for i, d := range c.TLS.Domains {
			f := fmt.Sprintf("tls.domains[%d]", i)
			if err := validateDomain(d); err != nil {
				return fieldErr(f, "%v", err)
			}
			if seen[strings.ToLower(d)] {
				return fieldErr(f, "duplicate domain %q", d)
			}
			seen[strings.ToLower(d)] = true
		}
		if c.TLS.ACMEDirectory != "" {
			u, err := url.Parse(c.TLS.ACMEDirectory)
			if err != nil || u.Host == "" || u.User != nil {
				return fieldErr("tls.acme_directory", "must be an absolute https URL")
			}
			switch {
			case u.Scheme == "https":
			case u.Scheme == "http" && IsLoopback(u.Host):
			default:
				return fieldErr("tls.acme_directory", "must be https (plain http only to a loopback host)")
			}
		}
		if c.TLS.Email != "" {
			if at := strings.IndexByte(c.TLS.Email, '@'); at <= 0 || at == len(c.TLS.Email)-1 || strings.ContainsAny(c.TLS.Email, " \t\r\n,<>") {
				return fieldErr("tls.email", "not an email address: %q", c.TLS.Email)
			}
		}
		if c.TLS.HTTPListen != "" {
			if err := validateListen("tls.http_listen", c.TLS.HTTPListen); err != nil {
				return err
			}
			if c.TLS.HTTPListen == c.Listen {
				return fieldErr("tls.http_listen", "must differ from listen")
			}
			if c.TLS.HTTPListen == c.AdminListen {
				return fieldErr("tls.http_listen", "must differ from admin_listen")
			}
		}
	default:
		return fieldErr("tls.mode", "must be \"off\", \"manual\" or \"acme\", got %q", mode)
	}
	if c.TLS.HSTS.MaxAge < 0 {
		return fieldErr("tls.hsts.max_age", "must not be negative")
	}
	if c.TLS.HSTS.Preload && (!c.TLS.HSTS.IncludeSubdomains || c.TLS.HSTS.MaxAge.Std().Hours() < 365*24) {
		return fieldErr("tls.hsts.preload", "needs include_subdomains and max_age of at least 8760h")
	}
	return nil
}

// validateListen checks a host:port listen address.
func validateListen(field, addr string) error {
	if addr == "" {
		return fieldErr(field, "must not be empty")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fieldErr(field, "not a host:port address: %q", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || port == "" {
		return fieldErr(field, "invalid port %q", port)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			if validateDomain(host) != nil {
				return fieldErr(field, "invalid host %q", host)
			}
		}
	}
	return nil
}

// validateDomain checks an ASCII DNS name usable for a certificate (no wildcard, no IP).
func validateDomain(d string) error {
	if d == "" {
		return fmt.Errorf("empty domain")
	}
	if len(d) > 253 {
		return fmt.Errorf("domain too long")
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return fmt.Errorf("%q is an IP address, not a domain", d)
	}
	if strings.HasSuffix(d, ".") {
		return fmt.Errorf("%q: no trailing dot", d)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q: bad label", d)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q: label may not start or end with '-'", d)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q: only ASCII letters, digits and '-' (use punycode)", d)
			}
		}
	}
	return nil
}

// validateOrigin checks a WebSocket origin "scheme://host[:port]".
func validateOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("not an origin such as \"https://app.example.com\": %q", o)
	}
	return nil
}

// TrustedProxyPrefixes parses trusted_proxies: CIDRs, or single addresses taken as one
// host. An error names the entry at fault.
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for i, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			a, aerr := netip.ParseAddr(strings.TrimSpace(s))
			if aerr != nil {
				return nil, fieldErr(fmt.Sprintf("trusted_proxies[%d]", i), "not a CIDR or IP address: %q", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// SlogLevel returns log.level as a slog.Level (debug, info, warn, error; any case).
func (c *Config) SlogLevel() (slog.Level, error) {
	switch strings.ToLower(c.Log.Level) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fieldErr("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
}

// KeyDir returns the signing key directory: auth.key_dir, or data_dir/keys when unset.
func (c *Config) KeyDir() string {
	if c.Auth.KeyDir != "" {
		return c.Auth.KeyDir
	}
	return filepath.Join(c.DataDir, "keys")
}

// ACMECacheDir returns the ACME certificate cache directory, data_dir/acme.
func (c *Config) ACMECacheDir() string { return filepath.Join(c.DataDir, "acme") }

// PlainHTTPExposed reports whether syncd serves plain HTTP on a non-loopback address
// (allowed only with tls.mode "off" written out); syncd logs a loud warning then.
func (c *Config) PlainHTTPExposed() bool {
	if c.TLS.Mode != "" && c.TLS.Mode != TLSOff {
		return false
	}
	return !IsLoopback(c.Listen) || (c.AdminListen != "" && !IsLoopback(c.AdminListen))
}

// IsLoopback reports whether addr ("host:port", "[v6]:port" or a bare host) names a
// loopback host: "localhost", 127.0.0.0/8 or ::1. An empty host (all interfaces) is not
// loopback.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if strings.EqualFold(host, "localhost") || strings.EqualFold(host, "localhost.") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 { // zone
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Bounds of the connection and slow-client limits (SPEC §3 names the keys).
const (
	// MaxConnectionsLimit bounds limits.max_connections (each connection is a file
	// descriptor; syncd's open-file limit must leave room for the store and files).
	MaxConnectionsLimit = 1 << 20
	// MinBodyWindow and MinStreamStall keep the windows long enough for one TCP
	// retransmission on a lossy link; MaxSlowWindow bounds how long a stalled client may
	// hold a connection.
	MinBodyWindow  = 100 * time.Millisecond
	MinStreamStall = 100 * time.Millisecond
	MaxSlowWindow  = time.Hour
	// MaxBodyMinRate bounds limits.body_min_rate: a higher floor would cut ordinary
	// clients on ordinary links.
	MaxBodyMinRate = 100 << 20
	// MaxWSSendQueue bounds limits.ws_send_queue: the hub gives replies room beyond
	// the queue (the inbound burst), which a queue near math.MaxInt overflowed into a
	// negative limit that closed every WebSocket with 4008 at its first message.
	MaxWSSendQueue = 1 << 20
)

func (c *Config) validateConnLimits() error {
	l := c.Limits
	if l.MaxConnections > MaxConnectionsLimit {
		return fieldErr("limits.max_connections", "must be at most %d", MaxConnectionsLimit)
	}
	if l.MaxConnectionsPerIP > l.MaxConnections {
		return fieldErr("limits.max_connections_per_ip", "must not exceed limits.max_connections (%d)", l.MaxConnections)
	}
	if l.BodyMinRate > MaxBodyMinRate {
		return fieldErr("limits.body_min_rate", "must be at most %s per second", Size(MaxBodyMinRate))
	}
	for _, w := range []struct {
		name string
		v    Duration
		min  time.Duration
	}{{"limits.body_window", l.BodyWindow, MinBodyWindow}, {"limits.stream_stall", l.StreamStall, MinStreamStall}} {
		if w.v.Std() < w.min {
			return fieldErr(w.name, "must be at least %s", w.min)
		}
		if w.v.Std() > MaxSlowWindow {
			return fieldErr(w.name, "must be at most %s", MaxSlowWindow)
		}
	}
	return nil
}
