package e2eteams_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
)

// TestRemoteCredentialNamesPublicURL: syncctl in remote mode talks to admin_listen,
// which serves no /api; a device credential it writes names PUBLIC_URL (SPEC §7.3:
// web.public_url, else the main listener), not the admin address it was given as
// --server.
func TestRemoteCredentialNamesPublicURL(t *testing.T) {
	s := syncdtest.Start(t, syncdtest.Options{Config: map[string]any{"admin_listen": "127.0.0.2:0"}})
	s.Tenant(t, "acme", tenants.Options{})
	adminURL := "http://" + s.D.AdminAddr()
	if adminURL == s.URL {
		t.Fatalf("admin_listen not apart: %s", adminURL)
	}
	ops, _, err := s.D.Auth().IssueOpsToken(context.Background(), "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tf := filepath.Join(dir, "ops.token")
	if err := os.WriteFile(tf, []byte(ops+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		full := append([]string{"--server", adminURL, "--token-file", tf}, args...)
		if code := ctl.Run(context.Background(), full, &out, &errb); code != 0 {
			t.Fatalf("syncctl %q: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}
	cred := filepath.Join(dir, "laptop.json")
	run("token", "issue", "--tenant", "acme", "--subject", "dan", "--role", "write", "--device", "laptop", "--out", cred)
	b, err := os.ReadFile(cred)
	var c struct{ Server string }
	if err != nil || json.Unmarshal(b, &c) != nil || c.Server != s.URL {
		t.Errorf("device credential's server %q (%v), want the main listener %s", c.Server, err, s.URL)
	}
}
