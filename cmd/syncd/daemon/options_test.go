package daemon

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tlsconf"
)

func TestTLSOptions(t *testing.T) {
	c := config.Default()
	c.Listen = "0.0.0.0:8443"
	c.DataDir = "/var/lib/syncd"
	c.TLS = config.TLS{
		Mode:          config.TLSACME,
		CertFile:      "/etc/c.pem",
		KeyFile:       "/etc/k.pem",
		Domains:       []string{"sync.test"},
		Email:         "ops@sync.test",
		ACMEDirectory: "https://ca.test/dir",
		ACMECAFile:    "/etc/ca.pem",
		HTTPListen:    ":80",
		HSTS:          config.HSTS{MaxAge: config.Duration(time.Hour), IncludeSubdomains: true, Preload: true},
	}
	want := tlsconf.Options{
		Mode:      tlsconf.ModeACME,
		CertFile:  "/etc/c.pem",
		KeyFile:   "/etc/k.pem",
		Domains:   []string{"sync.test"},
		Email:     "ops@sync.test",
		Directory: "https://ca.test/dir",
		CAFile:    "/etc/ca.pem",
		CacheDir:  filepath.Join("/var/lib/syncd", "acme"),
		HTTP01:    true,
		Listen:    "0.0.0.0:8443",
		HSTS:      tlsconf.HSTS{MaxAge: time.Hour, IncludeSubdomains: true, Preload: true},
	}
	if got := TLSOptions(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("TLSOptions:\n got %+v\nwant %+v", got, want)
	}
	// The config's modes are tlsconf's modes; no http_listen means no HTTP-01.
	for mode, want := range map[string]tlsconf.Mode{config.TLSOff: tlsconf.ModeOff, config.TLSManual: tlsconf.ModeManual, config.TLSACME: tlsconf.ModeACME} {
		c.TLS.Mode, c.TLS.HTTPListen = mode, ""
		if o := TLSOptions(c); o.Mode != want || o.HTTP01 {
			t.Fatalf("mode %q: %q http01 %v", mode, o.Mode, o.HTTP01)
		}
	}
}
