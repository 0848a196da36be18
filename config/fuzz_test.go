package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func marshalForTest(c *Config) ([]byte, error) { return json.Marshal(c) }

// FuzzLoad feeds arbitrary config files to Load: it must never panic, and must either
// return a config that passes Validate or a *config.Error with a message.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		`{}`, `{"listen":"127.0.0.1:1"}`, `{"limits":{"max_file_size":"4GiB"}}`,
		`{"tls":{"mode":"acme","domains":["a.test"]}}`, `{"tls":{"mode":"manual","cert_file":"c","key_file":"k"}}`,
		`{"routes":[{"match":[{"matcher":"path","paths":["/api/*","/ws"]}],"handle":[{"handler":"file_sync","root":"./sync-data","enable_upload":false}]}]}`,
		`{"limits":{"max_fil_size":1}}`, `{"a":1,"a":2}`, `[]`, `null`, `{} x`, `{"listen":"0.0.0.0:1","tls":{"mode":"off"}}`,
		`{"websocket":{"ping_interval":"-1s"}}`, `{"trusted_proxies":["::/0"]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "syncd.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, nil)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Msg == "" {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse returned a config that fails Validate: %v", err)
		}
		if c.Embedded {
			t.Fatal("parsed config marked embedded")
		}
	})
}

// FuzzParseSize checks ParseSize never panics and never returns a negative size.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"4GiB", "500MB", "1024", "1.5KiB", "-1", "8EiB", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}
