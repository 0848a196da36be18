package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
)

// TestACMEAdminListenOnLoopback: in acme mode the certificates are for tls.domains
// only, and a client dialing a loopback address sends no server name, so a TLS admin
// listener on loopback could not be reached by `syncctl --server
// https://127.0.0.1:PORT` (no certificate: handshake failure). A loopback
// admin_listen in acme mode serves plain HTTP, as the embedded default's loopback
// listener does (SPEC §1: plain HTTP only on loopback), and syncctl's remote mode
// works through it; the main listener stays TLS.
func TestACMEAdminListenOnLoopback(t *testing.T) {
	ctx := context.Background()
	d := startWithConfig(t, map[string]any{
		"admin_listen": "127.0.0.2:0",
		"tls": map[string]any{
			"mode": "acme", "domains": []string{"sync.example.test"}, "email": "ops@example.test",
			"acme_directory": "https://127.0.0.1:9/directory", "http_listen": "",
		},
	})
	ops, _, err := d.Auth().IssueOpsToken(ctx, "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(t.TempDir(), "ops.token")
	if err := os.WriteFile(tokFile, []byte(ops+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := ctl.Run(ctx, []string{"--server", "http://" + d.AdminAddr(), "--token-file", tokFile, "tenant", "list", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("syncctl over the loopback admin listener: exit %d: %s", code, errb.String())
	}
	if strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("tenant list: %q", out.String())
	}
	if d.tls.TLSConfig == nil {
		t.Fatal("the main listener lost TLS")
	}
}
