// Package config defines syncd's JSON configuration (SPEC §5): the types, the embedded
// defaults, loading a file on top of them, environment overrides, the seed's route form,
// and one Validate that names the field at fault. It imports only the standard library
// and returns plain errors (*Error); callers that answer with error codes map them.
package config

import (
	"time"
)

// Config is syncd's whole configuration. The zero value is not valid: start from
// Default().
type Config struct {
	Listen         string    `json:"listen"`
	AdminListen    string    `json:"admin_listen"`
	DataDir        string    `json:"data_dir"`
	TrustedProxies []string  `json:"trusted_proxies"`
	Log            Log       `json:"log"`
	TLS            TLS       `json:"tls"`
	Auth           Auth      `json:"auth"`
	Limits         Limits    `json:"limits"`
	WebSocket      WebSocket `json:"websocket"`
	Retention      Retention `json:"retention"`
	Web            Web       `json:"web"`
	Cluster        Cluster   `json:"cluster"` // zero: single node (cluster.go)

	// ReadOnly is set by the seed's route form with "enable_upload": false: every write
	// is refused with 403 forbidden.
	ReadOnly bool `json:"-"`
	// TLSModeExplicit records whether the file wrote "tls":{"mode":...} out; plain HTTP
	// on a non-loopback address needs it.
	TLSModeExplicit bool `json:"-"`
	// Embedded is true when no config file was given (the embedded default, which
	// bootstraps tenant "default" and its token on first start).
	Embedded bool `json:"-"`

	// fromEnv maps the fields applyEnv set to their variables, for error messages.
	fromEnv map[string]string
}

// Log configures log/slog. Level: debug|info|warn|error; Format: text|json.
type Log struct {
	Level  string `json:"level"`
	Format string `json:"format"`
}

// TLS modes.
const (
	TLSOff    = "off"
	TLSManual = "manual"
	TLSACME   = "acme"
)

// TLS configures HTTPS (SPEC §5). Mode "" means off, allowed only on loopback.
type TLS struct {
	Mode          string   `json:"mode"`
	CertFile      string   `json:"cert_file"`
	KeyFile       string   `json:"key_file"`
	Domains       []string `json:"domains"`
	Email         string   `json:"email"`
	ACMEDirectory string   `json:"acme_directory"`
	ACMECAFile    string   `json:"acme_ca_file"`
	HTTPListen    string   `json:"http_listen"`
	HSTS          HSTS     `json:"hsts"`
	// ClientCA is a PEM file of the CAs that sign client certificates (reloaded when
	// it changes); ClientAuth is "off" (default), "optional" or "require" (mutual TLS;
	// never applied to ACME's acme-tls/1 handshakes).
	ClientCA   string `json:"client_ca"`
	ClientAuth string `json:"client_auth"`
}

// HSTS configures the Strict-Transport-Security header on HTTPS responses.
type HSTS struct {
	MaxAge            Duration `json:"max_age"`
	IncludeSubdomains bool     `json:"include_subdomains"`
	Preload           bool     `json:"preload"`
}

// Auth configures token issuing and verification. KeyDir "" means DataDir/keys.
type Auth struct {
	Issuer    string   `json:"issuer"`
	MaxTTL    Duration `json:"max_ttl"`
	MaxOpsTTL Duration `json:"max_ops_ttl"`
	KeyDir    string   `json:"key_dir"`
	KEKFile   string   `json:"kek_file"` // cluster mode: the key-encryption key of signing keys
	// DeviceTTL: a device credential expires this long after its last use (sliding);
	// AccessTTL: lifetime of the access tokens POST /api/token issues (at least 10s).
	DeviceTTL Duration `json:"device_ttl"`
	AccessTTL Duration `json:"access_ttl"`
}

// Limits are the server-wide defaults; a tenant may carry its own quota and sizes.
type Limits struct {
	MaxFileSize Size  `json:"max_file_size"`
	MaxEntries  int64 `json:"max_entries"`
	MinFreeDisk Size  `json:"min_free_disk"`
	WSMaxFrame  int64 `json:"ws_max_frame"`
	WSSendQueue int   `json:"ws_send_queue"`
	WSPerToken  int   `json:"ws_per_token"`

	// MaxConnections caps the open TCP connections of all listeners together; one more
	// is answered 503 with Retry-After: 1 and closed at once.
	MaxConnections int `json:"max_connections"`
	// MaxConnectionsPerIP caps the open connections of one TCP peer address; peers in
	// trusted_proxies are exempt (they carry many clients' connections).
	MaxConnectionsPerIP int `json:"max_connections_per_ip"`
	// BodyMinRate and BodyWindow: a request body that delivers fewer than
	// BodyMinRate×BodyWindow bytes in any BodyWindow is cut (bytes per second).
	BodyMinRate Size     `json:"body_min_rate"`
	BodyWindow  Duration `json:"body_window"`
	// StreamStall aborts an answer that makes no write progress for this long.
	StreamStall Duration `json:"stream_stall"`
}

// WebSocket configures the /ws hub.
type WebSocket struct {
	PingInterval   Duration `json:"ping_interval"`
	PongTimeout    Duration `json:"pong_timeout"`
	IdleTimeout    Duration `json:"idle_timeout"`
	AllowedOrigins []string `json:"allowed_origins"`
}

// Retention: Changes is how many change-log events are kept per tenant; Versions how
// long earlier contents are kept.
type Retention struct {
	Changes  int64    `json:"changes"`
	Versions Duration `json:"versions"`
}

// Web configures the browser app syncd serves at "/" (SPEC §7.2). Enabled false
// leaves "/" 404. PublicURL ("" = unset) is the URL users open, used for sign-in
// links (syncctl token issue --link); unset, it is derived from listen and tls.mode.
type Web struct {
	Enabled   bool   `json:"enabled"`
	PublicURL string `json:"public_url"`
}

// Duration is a time.Duration written as a Go duration string ("30s", "720h").
type Duration time.Duration

// Size is a byte count written as a number or a string such as "4GiB", "500MB", "1024".
type Size int64
