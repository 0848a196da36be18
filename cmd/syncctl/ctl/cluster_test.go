//go:build !windows

package ctl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

// TestClusterMode: --postgres URL --kek-file FILE works on the cluster's database
// (schema applied on first use), and --config FILE with a cluster section sees the
// same tenants and keys.
func TestClusterMode(t *testing.T) {
	url := pgtest.Postgres(t)
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	pg := []string{"--postgres", url, "--kek-file", kek}
	run(t, append([]string{"tenant", "create", "team"}, pg...)...).must(t)
	tok := run(t, append([]string{"token", "issue", "--tenant", "team", "--subject", "a", "--role", "read"}, pg...)...).must(t)
	if strings.Count(strings.TrimSpace(tok.stdout), ".") != 2 {
		t.Fatalf("token issue printed %q", tok.stdout)
	}
	cfg := filepath.Join(dir, "c.json")
	b, _ := json.Marshal(map[string]any{"data_dir": filepath.Join(dir, "data"), "auth": map[string]any{"kek_file": kek},
		"cluster": map[string]any{"postgres": url, "blobs": "dir:" + filepath.Join(dir, "blobs")}})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	list := run(t, "tenant", "list", "--json", "--config", cfg).must(t)
	if !strings.Contains(list.stdout, `"team"`) {
		t.Fatalf("tenant list through --config: %s", list.stdout)
	}
	toks := run(t, "token", "list", "--tenant", "team", "--json", "--config", cfg).must(t)
	if !strings.Contains(toks.stdout, `"a"`) {
		t.Fatalf("token list through --config: %s", toks.stdout)
	}
}
