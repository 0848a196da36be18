package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SPEC §1 realtime-sync-client: --once reconciles and exits 0; built-in and .syncignore
// rules; client state and temp files are never synced; token sources; --client-id rule.
func TestClientOnce(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	tn.put(t, "remote/r.txt", "from server")
	dir := t.TempDir()
	files := map[string]string{
		"sub/a.txt":              "hello",
		".syncignore":            "*.log\n",
		"x.log":                  "ignored by .syncignore",
		".DS_Store":              "builtin",
		"Thumbs.db":              "builtin",
		"desktop.ini":            "builtin",
		"~$report.docx":          "builtin",
		".~lock.report.odt#":     "builtin",
		".syncspace-tmp-123":     "temp",
		"sub/.syncspace-tmp-abc": "temp",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o700)
		if err := os.WriteFile(full, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tokFile := writeTokenFile(t, tn.write)
	r := run(t, dir, nil, bins.client, "--server", e.d.URL(), "--local-path", dir, "--token-file", tokFile, "--once")
	if r.code != 0 {
		t.Fatalf("--once: %v", r)
	}
	if strings.Contains(r.stdout+r.stderr, tn.write) {
		t.Errorf("client printed the token")
	}
	var l struct {
		Entries []meta `json:"entries"`
	}
	tn.api(t, "GET", "/api/list?recursive=true", tn.read, nil, nil).json(t, &l)
	got := map[string]bool{}
	for _, m := range l.Entries {
		got[m.Path] = true
	}
	for _, want := range []string{"sub/a.txt", ".syncignore", "remote/r.txt"} {
		if !got[want] {
			t.Errorf("server lacks %s after --once: %v", want, got)
		}
	}
	for p := range files {
		if p != "sub/a.txt" && p != ".syncignore" && got[p] {
			t.Errorf("%s was synced", p)
		}
	}
	for p := range got {
		if strings.Contains(strings.ToLower(p), ".syncspace") {
			t.Errorf("client state synced: %s", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "remote", "r.txt")); err != nil || string(b) != "from server" {
		t.Errorf("download: %q %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(dir, ".syncspace")); err != nil || !st.IsDir() {
		t.Errorf("no client state dir: %v", err)
	}

	// --token warns; SYNC_TOKEN works; the tenant comes from the token.
	r = run(t, dir, nil, bins.client, "--server", e.d.URL(), "--local-path", dir, "--token", tn.write, "--once")
	if r.code != 0 || !strings.Contains(strings.ToLower(r.stderr), "process list") {
		t.Errorf("--token: want exit 0 and a process-list warning: %v", r)
	}
	r = run(t, dir, []string{"SYNC_TOKEN=" + tn.write}, bins.client, "--server", "ws://"+e.d.addr, "--local-path", dir, "--once")
	if r.code != 0 {
		t.Errorf("SYNC_TOKEN with a ws:// server: %v", r)
	}
	// Bad client ids are bad usage.
	for _, id := range []string{"bad id", strings.Repeat("a", 65), "a/b", "é"} {
		r = run(t, dir, nil, bins.client, "--server", e.d.URL(), "--local-path", dir, "--token-file", tokFile, "--once", "--client-id", id)
		if r.code != 2 {
			t.Errorf("attack: --client-id %q: %v", id, r)
		}
	}
	// A read token cannot upload: the client reports it and fails.
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("n"), 0o600)
	r = run(t, dir, nil, bins.client, "--server", e.d.URL(), "--local-path", dir, "--token-file", writeTokenFile(t, tn.read), "--once")
	if r.code == 0 {
		t.Errorf("--once with a read token and a local change exited 0: %v", r)
	}
}
