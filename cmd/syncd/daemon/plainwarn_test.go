package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlainAdminListenWarns: an admin_listen serving plain HTTP on a non-loopback
// address (allowed only with "tls":{"mode":"off"} written out, SPEC §5) starts with the
// same loud warning as such a main listener: ops tokens and every tenant's names cross
// the network unencrypted there. With a loopback main listener nothing was said.
func TestPlainAdminListenWarns(t *testing.T) {
	dir := t.TempDir()
	cfg := map[string]any{
		"listen": "127.0.0.1:0", "admin_listen": "0.0.0.0:0",
		"data_dir": filepath.Join(dir, "data"), "tls": map[string]any{"mode": "off"},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "c.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	d, err := start(context.Background(), []string{"-config", path}, &logs, &logs, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	var warned bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "PLAIN HTTP") && strings.Contains(line, "admin_listen=") {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no loud warning naming admin_listen:\n%s", logs.String())
	}
}
