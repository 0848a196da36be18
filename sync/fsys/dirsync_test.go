package fsys

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestFlushPlan: only Linux and macOS flush the whole file system with SyncAll; the
// BSDs, whose sync(2) returns before the writes are on disk, fsync directories
// instead; Windows does neither.
func TestFlushPlan(t *testing.T) {
	for _, tc := range []struct {
		goos             string
		syncAll, dirSync bool
	}{
		{"linux", true, false}, {"darwin", true, false}, {"windows", false, false},
		{"freebsd", false, true}, {"openbsd", false, true}, {"netbsd", false, true}, {"dragonfly", false, true},
	} {
		if a, d := flushPlan(tc.goos); a != tc.syncAll || d != tc.dirSync {
			t.Errorf("%s: syncAll %v dirSync %v, want %v %v", tc.goos, a, d, tc.syncAll, tc.dirSync)
		}
	}
}

// TestDirSyncParents: a Dir that syncs directories (the BSDs' plan, forced here)
// fsyncs the parents of every name it renames, links, removes or creates, so that a
// download renamed into place is durable without SyncAll; a MkdirAll of an existing
// directory fsyncs nothing.
func TestDirSyncParents(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.dsync.on = true
	var mu sync.Mutex
	var synced []string
	defer restoreSyncHook(SetSyncHook(func(name string) error {
		if rel, err := filepath.Rel(d.Path(), name); err == nil {
			mu.Lock()
			synced = append(synced, filepath.ToSlash(rel))
			mu.Unlock()
		}
		return nil
	}))
	step := func(what string, op func() error, want ...string) {
		t.Helper()
		synced = nil
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		slices.Sort(synced)
		slices.Sort(want)
		if !slices.Equal(synced, want) {
			t.Errorf("%s: fsynced %q, want %q", what, synced, want)
		}
	}
	step("MkdirAll a/b/c", func() error { return d.MkdirAll("a/b/c", 0o755) }, ".", "a", "a/b")
	step("MkdirAll existing", func() error { return d.MkdirAll("a/b", 0o755) })
	step("create temp", func() error {
		f, err := d.OpenFile("a/tmp", os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			err = f.Close()
		}
		return err
	})
	step("RenameNoReplace a/tmp a/b/x", func() error { return d.RenameNoReplace("a/tmp", "a/b/x") }, "a", "a/b")
	step("Link a/b/x a/b/y", func() error { return d.Link("a/b/x", "a/b/y") }, "a/b")
	step("Rename a/b/y x", func() error { return d.Rename("a/b/y", "x") }, ".", "a/b")
	step("Remove x", func() error { return d.Remove("x") }, ".")
}
