package ctl

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/syncspace/syncspace/sync/fsys"
)

// TestOutFilesDurable: a token or device credential reported written to --out has its
// directory fsynced too (the file's name survives a crash, not only its content).
func TestOutFilesDurable(t *testing.T) {
	_, data := startSyncd(t)
	dir := t.TempDir()
	var mu sync.Mutex
	dirSyncs := 0
	old := fsys.SetSyncHook(func(name string) error {
		if name == dir {
			mu.Lock()
			dirSyncs++
			mu.Unlock()
		}
		return nil
	})
	t.Cleanup(func() { fsys.SetSyncHook(old) })
	synced := func(what string, want int) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if dirSyncs != want {
			t.Fatalf("%s: %d fsyncs of the directory of --out, want %d", what, dirSyncs, want)
		}
	}
	run(t, "token", "issue", "--ops", "--subject", "root", "--out", filepath.Join(dir, "ops.token"), "--data", data).must(t)
	synced("token issue --out", 1)
	run(t, "tenant", "create", "acme", "--data", data).must(t)
	run(t, "token", "issue", "--tenant", "acme", "--subject", "alice", "--role", "write", "--device", "laptop",
		"--out", filepath.Join(dir, "laptop.json"), "--public-url", "https://sync.example.com/", "--data", data).must(t)
	synced("token issue --device --out", 2)
}
