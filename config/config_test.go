package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefault(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load(\"\"): %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"data_dir", c.DataDir, "./syncd-data"},
		{"embedded", c.Embedded, true},
		{"max_file_size", int64(c.Limits.MaxFileSize), int64(4 << 30)},
		{"max_entries", c.Limits.MaxEntries, int64(1000000)},
		{"min_free_disk", int64(c.Limits.MinFreeDisk), int64(1 << 30)},
		{"ws_max_frame", c.Limits.WSMaxFrame, int64(65536)},
		{"ws_send_queue", c.Limits.WSSendQueue, 256},
		{"ws_per_token", c.Limits.WSPerToken, 16},
		{"max_connections", c.Limits.MaxConnections, 10000},
		{"max_connections_per_ip", c.Limits.MaxConnectionsPerIP, 256},
		{"body_min_rate", int64(c.Limits.BodyMinRate), int64(1024)},
		{"body_window", c.Limits.BodyWindow.Std(), 60 * time.Second},
		{"stream_stall", c.Limits.StreamStall.Std(), 60 * time.Second},
		{"ping", c.WebSocket.PingInterval.Std(), 30 * time.Second},
		{"pong", c.WebSocket.PongTimeout.Std(), 60 * time.Second},
		{"idle", c.WebSocket.IdleTimeout.Std(), 5 * time.Minute},
		{"retention.changes", c.Retention.Changes, int64(100000)},
		{"retention.versions", c.Retention.Versions.Std(), 720 * time.Hour},
		{"issuer", c.Auth.Issuer, "syncd"},
		{"max_ttl", c.Auth.MaxTTL.Std(), 8760 * time.Hour},
		{"max_ops_ttl", c.Auth.MaxOpsTTL.Std(), 24 * time.Hour},
		{"hsts", c.TLS.HSTS.MaxAge.Std(), 8760 * time.Hour},
		{"http_listen", c.TLS.HTTPListen, ":80"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"tls.mode", c.TLS.Mode, TLSOff},
		{"explicit", c.TLSModeExplicit, false},
		{"key_dir", c.KeyDir(), filepath.Join("syncd-data", "keys")},
		{"acme dir", c.ACMECacheDir(), filepath.Join("syncd-data", "acme")},
		{"readonly", c.ReadOnly, false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if a, b := Default(), Default(); a == b {
		t.Error("Default must return a fresh value")
	}
}

func TestEnvOverrides(t *testing.T) {
	e := env(map[string]string{EnvListen: "127.0.0.1:9999", EnvDataDir: "/srv/x", EnvLogLevel: "debug"})
	c, err := Load("", e)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.DataDir != "/srv/x" || c.Log.Level != "debug" {
		t.Fatalf("env not applied: %+v", c)
	}
	// Over a file too.
	c, err = Parse([]byte(`{"listen":"127.0.0.1:1","data_dir":"/a","log":{"level":"error"}}`), e)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.DataDir != "/srv/x" || c.Log.Level != "debug" || c.Embedded {
		t.Fatalf("env not applied over file: %+v", c)
	}
	// A non-loopback listen from the env on the embedded default must be refused.
	_, err = Load("", env(map[string]string{EnvListen: "0.0.0.0:8080"}))
	wantField(t, err, "tls.mode")
	_, err = Load("", env(map[string]string{EnvLogLevel: "loud"}))
	wantField(t, err, "log.level")
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "syncd.json")
	doc := `{
  "listen": "0.0.0.0:8443",
  "admin_listen": "127.0.0.1:9090",
  "data_dir": "/var/lib/syncd",
  "trusted_proxies": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"],
  "log": {"level": "warn", "format": "json"},
  "tls": {
    "mode": "acme",
    "domains": ["sync.example.com"], "email": "ops@example.com",
    "acme_directory": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "http_listen": ":80",
    "hsts": {"max_age": "17520h", "include_subdomains": true, "preload": true}
  },
  "auth": {"issuer": "me", "max_ttl": "720h", "max_ops_ttl": "1h", "key_dir": "/etc/syncd/keys"},
  "limits": {"max_file_size": "500MB", "max_entries": 10, "min_free_disk": 0,
             "ws_max_frame": 16384, "ws_send_queue": 8, "ws_per_token": 2},
  "websocket": {"ping_interval": "10s", "pong_timeout": "20s", "idle_timeout": "1m",
                "allowed_origins": ["https://app.example.com"]},
  "retention": {"changes": 5, "versions": "1h"}
}`
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Embedded || !c.TLSModeExplicit || c.TLS.Mode != TLSACME || c.Limits.MaxFileSize != 500e6 ||
		c.Limits.MinFreeDisk != 0 || c.KeyDir() != "/etc/syncd/keys" || c.WebSocket.IdleTimeout.Std() != time.Minute ||
		!c.TLS.HSTS.Preload || c.Log.Format != "json" || len(c.TrustedProxies) != 3 {
		t.Fatalf("unexpected config: %+v", c)
	}
	pp, err := c.TrustedProxyPrefixes()
	if err != nil || len(pp) != 3 || pp[1].String() != "192.168.1.7/32" {
		t.Fatalf("prefixes %v %v", pp, err)
	}
	if c.PlainHTTPExposed() {
		t.Error("acme mode does not expose plain HTTP")
	}
	if _, err := Load(filepath.Join(dir, "missing.json"), nil); err == nil {
		t.Fatal("missing file accepted")
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(`{"listen":"`+strings.Repeat("a", MaxFileBytes)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, nil); err == nil {
		t.Fatal("oversized file accepted")
	}
}

func TestSeedRouteForm(t *testing.T) {
	seed := `{"routes":[{"match":[{"matcher":"path","paths":["/api/*","/ws"]}],"handle":[{"handler":"file_sync","root":"./sync-data","enable_upload":true}]}]}`
	c, err := Parse([]byte(seed), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./sync-data" || c.ReadOnly {
		t.Fatalf("seed form: data_dir %q read-only %v", c.DataDir, c.ReadOnly)
	}
	c, err = Parse([]byte(strings.Replace(seed, `"enable_upload":true`, `"enable_upload":false`, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ReadOnly {
		t.Fatal("enable_upload false must give a read-only server")
	}
	c, err = Parse([]byte(`{"routes":[{"handle":[{"handler":"file_sync"}]}]}`), nil)
	if err != nil || c.DataDir != "./syncd-data" || c.ReadOnly {
		t.Fatalf("minimal seed form: %v %+v", err, c)
	}
	bad := []struct{ doc, field string }{
		{`{"routes":[{"handle":[{"handler":"reverse_proxy"}]}]}`, "routes[0].handle[0].handler"},
		{`{"routes":[{"match":[{"matcher":"host"}],"handle":[{"handler":"file_sync"}]}]}`, "routes[0].match[0].matcher"},
		{`{"routes":[{"match":[{"matcher":"path","paths":["api"]}],"handle":[{"handler":"file_sync"}]}]}`, "routes[0].match[0].paths[0]"},
		{`{"routes":[{"handle":[{"handler":"file_sync","root":"a"},{"handler":"file_sync","root":"b"}]}]}`, "routes[0].handle[1].root"},
		{`{"data_dir":"x","routes":[{"handle":[{"handler":"file_sync","root":"y"}]}]}`, "routes[0].handle[0].root"},
		{`{"routes":[{"handle":[{"handler":"file_sync","upstreams":[]}]}]}`, "routes[0].handle[0].upstreams"},
		{`{"routes":[{"handle":[]}]}`, "routes[0].handle"},
		{`{"routes":{}}`, "routes"},
		{`{"routes":[{"handle":[{"handler":"file_sync","enable_upload":"no"}]}]}`, "routes[0].handle[0].enable_upload"},
	}
	for _, b := range bad {
		_, err := Parse([]byte(b.doc), nil)
		wantField(t, err, b.field)
	}
}

func TestParseTable(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		field string // "" = valid
	}{
		{"empty object", `{}`, ""},
		{"plain http on loopback", `{"listen":"[::1]:8080"}`, ""},
		{"localhost", `{"listen":"localhost:8080"}`, ""},
		{"explicit off on all interfaces", `{"listen":":8080","tls":{"mode":"off"}}`, ""},
		{"manual", `{"listen":":443","tls":{"mode":"manual","cert_file":"c.pem","key_file":"k.pem"}}`, ""},
		{"acme loopback directory", `{"listen":":443","tls":{"mode":"acme","domains":["a.test"],"acme_directory":"http://127.0.0.1:14000/dir"}}`, ""},
		{"acme no http_listen", `{"listen":":443","tls":{"mode":"acme","domains":["a.test"],"http_listen":""}}`, ""},
		{"size number", `{"limits":{"max_file_size":1024}}`, ""},
		{"size string bytes", `{"limits":{"max_file_size":"1024"}}`, ""},
		{"null list", `{"trusted_proxies":null}`, ""},
		{"slow-client limits", `{"limits":{"max_connections":100,"max_connections_per_ip":100,"body_min_rate":"10KiB","body_window":"2s","stream_stall":"500ms"}}`, ""},

		// Validation errors name the field.
		{"non-loopback without tls", `{"listen":"0.0.0.0:8080"}`, "tls.mode"},
		{"all interfaces implicit", `{"listen":":8080"}`, "tls.mode"},
		{"empty mode on public", `{"listen":"0.0.0.0:8080","tls":{"mode":""}}`, "tls.mode"},
		{"admin public plain", `{"admin_listen":"0.0.0.0:9090"}`, "tls.mode"},
		{"bad mode", `{"tls":{"mode":"on"}}`, "tls.mode"},
		{"manual no cert", `{"tls":{"mode":"manual","key_file":"k"}}`, "tls.cert_file"},
		{"manual no key", `{"tls":{"mode":"manual","cert_file":"c"}}`, "tls.key_file"},
		{"acme no domains", `{"tls":{"mode":"acme"}}`, "tls.domains"},
		{"acme ip domain", `{"tls":{"mode":"acme","domains":["127.0.0.1"]}}`, "tls.domains[0]"},
		{"acme wildcard", `{"tls":{"mode":"acme","domains":["*.a.test"]}}`, "tls.domains[0]"},
		{"acme dup domain", `{"tls":{"mode":"acme","domains":["a.test","A.test"]}}`, "tls.domains[1]"},
		{"acme http directory", `{"tls":{"mode":"acme","domains":["a.test"],"acme_directory":"http://ca.example.com/dir"}}`, "tls.acme_directory"},
		{"acme relative directory", `{"tls":{"mode":"acme","domains":["a.test"],"acme_directory":"/dir"}}`, "tls.acme_directory"},
		{"acme bad email", `{"tls":{"mode":"acme","domains":["a.test"],"email":"nobody"}}`, "tls.email"},
		{"acme bad http_listen", `{"tls":{"mode":"acme","domains":["a.test"],"http_listen":"80"}}`, "tls.http_listen"},
		{"acme http_listen same as admin_listen", `{"listen":":443","admin_listen":"127.0.0.1:8443","tls":{"mode":"acme","domains":["a.test"],"http_listen":"127.0.0.1:8443"}}`, "tls.http_listen"},
		{"preload without subdomains", `{"tls":{"hsts":{"preload":true}}}`, "tls.hsts.preload"},
		{"negative hsts", `{"tls":{"hsts":{"max_age":"-1s"}}}`, "tls.hsts.max_age"},
		{"bad listen", `{"listen":"8080"}`, "listen"},
		{"bad port", `{"listen":"127.0.0.1:99999"}`, "listen"},
		{"empty listen", `{"listen":""}`, "listen"},
		{"admin same as listen", `{"admin_listen":"127.0.0.1:8080"}`, "admin_listen"},
		{"empty data dir", `{"data_dir":""}`, "data_dir"},
		{"bad proxy", `{"trusted_proxies":["10.0.0.0/33"]}`, "trusted_proxies[0]"},
		{"bad proxy name", `{"trusted_proxies":["proxy.local"]}`, "trusted_proxies[0]"},
		{"bad level", `{"log":{"level":"verbose"}}`, "log.level"},
		{"bad format", `{"log":{"format":"xml"}}`, "log.format"},
		{"empty issuer", `{"auth":{"issuer":""}}`, "auth.issuer"},
		{"zero ttl", `{"auth":{"max_ttl":"0s"}}`, "auth.max_ttl"},
		{"negative ops ttl", `{"auth":{"max_ops_ttl":"-1h"}}`, "auth.max_ops_ttl"},
		{"zero file size", `{"limits":{"max_file_size":0}}`, "limits.max_file_size"},
		{"zero entries", `{"limits":{"max_entries":0}}`, "limits.max_entries"},
		{"negative entries", `{"limits":{"max_entries":-5}}`, "limits.max_entries"},
		{"tiny frame", `{"limits":{"ws_max_frame":10}}`, "limits.ws_max_frame"},
		{"zero queue", `{"limits":{"ws_send_queue":0}}`, "limits.ws_send_queue"},
		{"attack: queue past the hub's room", `{"limits":{"ws_send_queue":9223372036854775807}}`, "limits.ws_send_queue"},
		{"attack: queue over the bound", `{"limits":{"ws_send_queue":1048577}}`, "limits.ws_send_queue"},
		{"zero per token", `{"limits":{"ws_per_token":0}}`, "limits.ws_per_token"},
		{"zero max connections", `{"limits":{"max_connections":0}}`, "limits.max_connections"},
		{"huge max connections", `{"limits":{"max_connections":2000000}}`, "limits.max_connections"},
		{"zero per ip", `{"limits":{"max_connections_per_ip":0}}`, "limits.max_connections_per_ip"},
		{"per ip over global", `{"limits":{"max_connections":10,"max_connections_per_ip":11}}`, "limits.max_connections_per_ip"},
		{"zero body rate", `{"limits":{"body_min_rate":0}}`, "limits.body_min_rate"},
		{"huge body rate", `{"limits":{"body_min_rate":"1GiB"}}`, "limits.body_min_rate"},
		{"bad body rate", `{"limits":{"body_min_rate":"1KiB/s"}}`, "limits.body_min_rate"},
		{"zero body window", `{"limits":{"body_window":"0s"}}`, "limits.body_window"},
		{"tiny body window", `{"limits":{"body_window":"1ms"}}`, "limits.body_window"},
		{"long body window", `{"limits":{"body_window":"48h"}}`, "limits.body_window"},
		{"number body window", `{"limits":{"body_window":60}}`, "limits.body_window"},
		{"negative stream stall", `{"limits":{"stream_stall":"-1s"}}`, "limits.stream_stall"},
		{"tiny stream stall", `{"limits":{"stream_stall":"1ns"}}`, "limits.stream_stall"},
		{"pong before ping", `{"websocket":{"ping_interval":"1m","pong_timeout":"30s"}}`, "websocket.pong_timeout"},
		{"negative idle", `{"websocket":{"idle_timeout":"-5m"}}`, "websocket.idle_timeout"},
		{"bad origin", `{"websocket":{"allowed_origins":["app.example.com"]}}`, "websocket.allowed_origins[0]"},
		{"origin with path", `{"websocket":{"allowed_origins":["https://a.test/x"]}}`, "websocket.allowed_origins[0]"},
		{"zero changes", `{"retention":{"changes":0}}`, "retention.changes"},
		{"zero versions", `{"retention":{"versions":"0s"}}`, "retention.versions"},

		// Attacks on the decoder.
		{"unknown top key", `{"lisen":"127.0.0.1:1"}`, "lisen"},
		{"unknown nested key", `{"limits":{"max_fil_size":"1GiB"}}`, "limits.max_fil_size"},
		{"unknown deep key", `{"tls":{"hsts":{"maxage":"1h"}}}`, "tls.hsts.maxage"},
		{"case variant key", `{"Listen":"127.0.0.1:1"}`, "Listen"},
		{"internal field", `{"ReadOnly":true}`, "ReadOnly"},
		{"internal field json name", `{"Embedded":false}`, "Embedded"},
		{"duplicate key", `{"listen":"127.0.0.1:1","listen":"0.0.0.0:1"}`, "listen"},
		{"duplicate nested key", `{"tls":{"mode":"off","mode":"acme"}}`, "tls.mode"},
		{"string for int", `{"limits":{"max_entries":"10"}}`, "limits.max_entries"},
		{"float for int", `{"limits":{"max_entries":1.5}}`, "limits.max_entries"},
		{"exponent for int", `{"limits":{"max_entries":1e3}}`, "limits.max_entries"},
		{"huge int", `{"limits":{"max_entries":99999999999999999999999}}`, "limits.max_entries"},
		{"huge int for int field", `{"limits":{"ws_send_queue":9223372036854775808}}`, "limits.ws_send_queue"},
		{"huge size", `{"limits":{"max_file_size":"100EiB"}}`, "limits.max_file_size"},
		{"huge size number", `{"limits":{"max_file_size":99999999999999999999}}`, "limits.max_file_size"},
		{"negative size", `{"limits":{"max_file_size":-1}}`, "limits.max_file_size"},
		{"negative size string", `{"limits":{"min_free_disk":"-1GiB"}}`, "limits.min_free_disk"},
		{"bad size unit", `{"limits":{"max_file_size":"4 parsecs"}}`, "limits.max_file_size"},
		{"size bool", `{"limits":{"max_file_size":true}}`, "limits.max_file_size"},
		{"number for duration", `{"websocket":{"ping_interval":30}}`, "websocket.ping_interval"},
		{"bad duration", `{"websocket":{"ping_interval":"30 seconds"}}`, "websocket.ping_interval"},
		{"overflowing duration", `{"auth":{"max_ttl":"99999999999h"}}`, "auth.max_ttl"},
		{"number for string", `{"listen":8080}`, "listen"},
		{"object for string", `{"data_dir":{}}`, "data_dir"},
		{"null string", `{"data_dir":null}`, "data_dir"},
		{"null object", `{"tls":null}`, "tls"},
		{"array for object", `{"tls":[]}`, "tls"},
		{"string for object", `{"limits":"big"}`, "limits"},
		{"string for list", `{"trusted_proxies":"10.0.0.0/8"}`, "trusted_proxies"},
		{"number in list", `{"tls":{"domains":[1]}}`, "tls.domains[0]"},
		{"string for bool", `{"tls":{"hsts":{"preload":"yes"}}}`, "tls.hsts.preload"},
		{"non-object root array", `[]`, ""},
		{"non-object root string", `"x"`, ""},
		{"non-object root null", `null`, ""},
		{"empty document", ``, ""},
		{"whitespace only", "  \n", ""},
		{"trailing garbage", `{} x`, ""},
		{"second object", `{}{}`, ""},
		{"truncated", `{"listen":`, ""},
		{"unterminated", `{"listen":"127.0.0.1:8080"`, ""},
		{"comment", `{/* c */}`, ""},
		{"trailing comma", `{"listen":"127.0.0.1:8080",}`, ""},
		{"deep nesting", `{"tls":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, ""},
		{"deep nesting unknown key", `{"x":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat("}", 5000) + `}`, "x"},
		{"nul in data dir", `{"data_dir":"a\u0000b"}`, "data_dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), nil)
			valid := tt.field == "" && !strings.HasPrefix(tt.name, "non-object") && !isSyntaxCase(tt.name)
			if valid {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if c == nil {
					t.Fatal("nil config")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if tt.field != "" {
				wantField(t, err, tt.field)
			}
		})
	}
}

func isSyntaxCase(name string) bool {
	switch name {
	case "empty document", "whitespace only", "trailing garbage", "second object", "truncated",
		"unterminated", "comment", "trailing comma", "deep nesting":
		return true
	}
	return false
}

// wantField checks err is an *Error naming field right after "config: ".
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error naming %s, got nil", field)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Field != field {
		t.Fatalf("error %v is not a *config.Error naming %s", err, field)
	}
	if !strings.HasPrefix(err.Error(), "config: "+field+": ") {
		t.Fatalf("error %q does not name %s", err, field)
	}
}

func TestTLSModeExplicit(t *testing.T) {
	c, err := Parse([]byte(`{"tls":{"mode":"off"}}`), nil)
	if err != nil || !c.TLSModeExplicit {
		t.Fatalf("explicit off: %v %+v", err, c)
	}
	c, err = Parse([]byte(`{"tls":{"hsts":{"max_age":"1h"}}}`), nil)
	if err != nil || c.TLSModeExplicit || c.TLS.Mode != TLSOff {
		t.Fatalf("implicit off: %v %+v", err, c)
	}
	c, err = Parse([]byte(`{"listen":"0.0.0.0:8080","tls":{"mode":"off"}}`), nil)
	if err != nil || !c.PlainHTTPExposed() {
		t.Fatalf("exposed plain http not reported: %v", err)
	}
	// Built by hand: Default() with a public listen must be refused until explicit.
	d := Default()
	d.Listen = "0.0.0.0:8080"
	wantField(t, d.Validate(), "tls.mode")
	d.TLSModeExplicit = true
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "1024": 1024, "1B": 1, "4GiB": 4 << 30, "500MB": 500e6, "500mb": 500e6,
		"1 KiB": 1024, "1.5KiB": 1536, "10GiB": 10 << 30, "1k": 1000, "2T": 2e12, "1TiB": 1 << 40,
		" 7 ": 7, "8EiB": -1, // replaced below
		"9223372036854775807": 9223372036854775807, "7EiB": 7 << 60,
	}
	delete(good, "8EiB")
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := []string{
		"", " ", "-1", "-1GiB", "+5", "1.5", "0.1B", "1e3", "GiB", "1GiBs", "1 2", "1..2MB", ".5MB", "5.MB",
		"8EiB", "9223372036854775808", "99999999999999999999999", "1 parsec", "0x10", "1_000",
		"NaN", "Inf", strings.Repeat("9", 100), "1\x00", "１GiB",
	}
	for _, in := range bad {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want error", in, got)
		}
	}
	for _, n := range []int64{0, 1, 1023, 1024, 1536, 4 << 30, 500e6, 7 << 60, 9223372036854775807} {
		s := Size(n).String()
		back, err := ParseSize(s)
		if err != nil || back != n {
			t.Errorf("round trip %d -> %q -> %d, %v", n, s, back, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:80": true, "localhost:1": true,
		"LOCALHOST:1": true, "127.0.0.1": true, "::1": true, "[::1]": true, "localhost": true,
		"[::ffff:127.0.0.1]:80": true,
		":8080":                 false, "0.0.0.0:8080": false, "[::]:80": false, "10.0.0.1:80": false,
		"example.com:80": false, "localhost.example.com:80": false, "": false, "127.0.0.1.nip.io:80": false,
	}
	for in, want := range cases {
		if got := IsLoopback(in); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	// The JSON form of a config (durations as strings, sizes as numbers) reads back
	// to the same values.
	c := Default()
	b, err := marshalForTest(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b, nil)
	if err != nil {
		t.Fatalf("parse own output: %v\n%s", err, b)
	}
	if back.Limits != c.Limits || back.WebSocket.PingInterval != c.WebSocket.PingInterval ||
		back.Retention != c.Retention || back.Auth != c.Auth || back.TLS.HSTS != c.TLS.HSTS {
		t.Fatalf("round trip differs:\n%+v\n%+v", back, c)
	}
}

// TestDependentDefaultsFollowWhatIsWritten: a default bounded by another key follows
// that key when only the other key is written, so that a file setting one key alone is
// not refused over a key it never wrote; written out, both are checked as they are.
func TestDependentDefaultsFollowWhatIsWritten(t *testing.T) {
	c, err := Parse([]byte(`{"limits":{"max_connections":100}}`), nil)
	if err != nil {
		t.Fatalf("max_connections alone: %v", err)
	}
	if c.Limits.MaxConnectionsPerIP != 100 {
		t.Errorf("max_connections_per_ip %d, want 100 (max_connections)", c.Limits.MaxConnectionsPerIP)
	}
	c, err = Parse([]byte(`{"websocket":{"ping_interval":"90s"}}`), nil)
	if err != nil {
		t.Fatalf("ping_interval alone: %v", err)
	}
	if c.WebSocket.PongTimeout.Std() != 180*time.Second {
		t.Errorf("pong_timeout %s, want 3m (twice ping_interval)", c.WebSocket.PongTimeout)
	}
	// Below the defaults' own bounds nothing changes.
	c, err = Parse([]byte(`{"limits":{"max_connections":1000},"websocket":{"ping_interval":"10s"}}`), nil)
	if err != nil || c.Limits.MaxConnectionsPerIP != 256 || c.WebSocket.PongTimeout.Std() != time.Minute {
		t.Fatalf("defaults changed: %+v %+v %v", c.Limits, c.WebSocket, err)
	}
	for _, doc := range []string{
		`{"limits":{"max_connections":100,"max_connections_per_ip":256}}`,
		`{"websocket":{"ping_interval":"90s","pong_timeout":"60s"}}`,
		`{"websocket":{"ping_interval":"2000000h"}}`, // twice it overflows: refused, not wrapped
	} {
		if _, err := Parse([]byte(doc), nil); err == nil {
			t.Errorf("%s: accepted", doc)
		}
	}
}
