package engine

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// watchHarness runs the real watcher (real fsnotify on a t.TempDir()) the way Run does:
// every batch is scanned by the engine's own scan, which re-adds watches, before the
// batch is handed to the test.
type watchHarness struct {
	t     *testing.T
	dir   string
	e     *Engine
	w     *watcher
	seen  chan []string
	scans sync.WaitGroup
}

func newWatchHarness(t *testing.T, dir string, debounce time.Duration) *watchHarness {
	t.Helper()
	h, start := newPausedWatchHarness(t, dir, debounce)
	start()
	return h
}

// newPausedWatchHarness is newWatchHarness with DIR scanned and watched but no event
// read until start is called: what the watcher does while it waits for the engine to
// take a batch (send), when the engine's own scans may run ahead of its events.
func newPausedWatchHarness(t *testing.T, dir string, debounce time.Duration) (*watchHarness, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The remote is never called: only the watcher and the local scan run here.
	e, err := Open(Options{Root: dir, Remote: &hostileRemote{}, Debounce: debounce, OpenFS: testOpenFS(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWatcher(e.rootPath, debounce, log)
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	e.watch = w
	ctx, cancel := context.WithCancel(context.Background())
	h := &watchHarness{t: t, dir: e.rootPath, e: e, w: w, seen: make(chan []string, 64)}
	if _, err := e.disk.scan(""); err != nil {
		t.Fatal(err)
	}
	h.scans.Add(1)
	start := func() { go w.run(ctx) }
	go func() {
		defer h.scans.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case batch := <-w.batches:
				for _, p := range collapse(batch) {
					_, _ = e.disk.scan(p)
				}
				select {
				case h.seen <- batch:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		h.scans.Wait()
		e.Close()
	})
	return h, start
}

func (h *watchHarness) path(rel string) string {
	return filepath.Join(h.dir, filepath.FromSlash(rel))
}

func (h *watchHarness) write(rel, content string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.path(rel)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.path(rel), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// covers reports whether a batch makes the engine look at rel: rel itself or one of
// its parent directories (the scan of a directory walks its subtree).
func covers(batch []string, rel string) bool {
	for _, p := range batch {
		if p == rel || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

// await waits until a batch covers every one of rels, failing after within.
func (h *watchHarness) await(within time.Duration, rels ...string) {
	h.t.Helper()
	left := slices.Clone(rels)
	var got [][]string
	deadline := time.After(within)
	for len(left) > 0 {
		select {
		case batch := <-h.seen:
			got = append(got, batch)
			left = slices.DeleteFunc(left, func(r string) bool { return covers(batch, r) })
		case <-deadline:
			h.t.Fatalf("no batch covered %v within %v; batches: %v; watches: %v", left, within, got, h.w.fs.WatchList())
		}
	}
}

// settle waits until no batch arrives for a while and the watches match DIR's
// directories (the events of a rename are all scanned), so that a later await sees
// only what follows. Quiet alone is not enough: a loaded machine can hold the first
// batch back longer than the quiet time. It fails after 20 s.
func (h *watchHarness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-h.seen:
			continue
		case <-time.After(300 * time.Millisecond):
		}
		miss := h.watchMismatch()
		if miss == "" {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("after 20 s the watches still differ from DIR's directories:\n%s", miss)
		}
	}
}

// checkWatches asserts that fsnotify and the bookkeeping watch exactly the directories
// of DIR (no stale path left by a rename, none missing).
func (h *watchHarness) checkWatches() {
	h.t.Helper()
	if miss := h.watchMismatch(); miss != "" {
		h.t.Error(miss)
	}
}

// watchMismatch says how the watches of fsnotify and of the bookkeeping differ from
// the directories of DIR, or "" when they match.
func (h *watchHarness) watchMismatch() string {
	var want []string
	err := filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if internalName(d.Name()) {
				return fs.SkipDir
			}
			want = append(want, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Sprintf("walk DIR: %v", err)
	}
	slices.Sort(want)
	var miss []string
	got := h.w.fs.WatchList()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		miss = append(miss, fmt.Sprintf("fsnotify watches\n got %v\nwant %v", got, want))
	}
	h.w.mu.Lock()
	var book []string
	for rel := range h.w.dirs {
		book = append(book, filepath.Join(h.dir, filepath.FromSlash(rel)))
	}
	h.w.mu.Unlock()
	slices.Sort(book)
	if !slices.Equal(book, want) {
		miss = append(miss, fmt.Sprintf("watcher bookkeeping\n got %v\nwant %v", book, want))
	}
	return strings.Join(miss, "\n")
}

func (h *watchHarness) rename(from, to string) {
	h.t.Helper()
	if err := os.Rename(h.path(from), h.path(to)); err != nil {
		h.t.Fatal(err)
	}
}

// TestWatchAfterDirRename: after a directory is renamed, moved, replaced or swapped,
// an edit of a file in a nested subdirectory under its new name reaches the engine
// through the watcher (the harness runs no periodic rescan that could find it
// instead), and no watch stays registered under a stale path.
func TestWatchAfterDirRename(t *testing.T) {
	tree := []string{"docs/top.txt", "docs/old/deep.txt", "docs/old/deeper/x.txt", "other/keep.txt"}
	cases := []struct {
		name  string
		move  func(h *watchHarness)
		edits []string
	}{
		{"rename the parent of nested dirs", func(h *watchHarness) {
			h.rename("docs", "renamed")
		}, []string{"renamed/old/deep.txt", "renamed/old/deeper/x.txt", "renamed/top.txt"}},
		{"rename a nested dir", func(h *watchHarness) {
			h.rename("docs/old", "docs/new")
		}, []string{"docs/new/deep.txt", "docs/new/deeper/x.txt"}},
		{"move into another watched dir", func(h *watchHarness) {
			h.rename("docs", "other/docs")
		}, []string{"other/docs/old/deep.txt", "other/docs/old/deeper/x.txt"}},
		{"move up a level", func(h *watchHarness) {
			h.rename("docs/old/deeper", "deeper")
		}, []string{"deeper/x.txt", "docs/old/deep.txt"}},
		{"two renames in one burst", func(h *watchHarness) {
			h.rename("docs", "a")
			h.rename("a/old", "a/b")
		}, []string{"a/b/deep.txt", "a/b/deeper/x.txt"}},
		// attacks: names reused, trees swapped, moves through the outside.
		{"attack: rename over an emptied watched dir", func(h *watchHarness) {
			if err := os.Remove(h.path("other/keep.txt")); err != nil {
				t.Fatal(err)
			}
			h.settle()
			// rename(2) itself: os.Rename refuses to replace a directory.
			if err := syscall.Rename(h.path("docs"), h.path("other")); err != nil {
				t.Fatal(err)
			}
		}, []string{"other/old/deep.txt", "other/old/deeper/x.txt", "other/top.txt"}},
		{"attack: rename away and back in one burst", func(h *watchHarness) {
			h.rename("docs", "x")
			h.rename("x", "docs")
		}, []string{"docs/old/deep.txt", "docs/old/deeper/x.txt"}},
		{"attack: swap two trees", func(h *watchHarness) {
			h.write("other/old/deep.txt", "o")
			h.settle()
			h.rename("docs", "tmp")
			h.rename("other", "docs")
			h.rename("tmp", "other")
		}, []string{"docs/old/deep.txt", "other/old/deep.txt", "other/old/deeper/x.txt"}},
		{"attack: moved out of DIR and back under another name", func(h *watchHarness) {
			out := filepath.Join(t.TempDir(), "out")
			if err := os.Rename(h.path("docs"), out); err != nil {
				t.Fatal(err)
			}
			h.settle()
			if err := os.Rename(out, h.path("back")); err != nil {
				t.Fatal(err)
			}
		}, []string{"back/old/deep.txt", "back/old/deeper/x.txt"}},
		{"attack: removed and recreated under the same name", func(h *watchHarness) {
			if err := os.RemoveAll(h.path("docs")); err != nil {
				t.Fatal(err)
			}
			h.settle()
			h.write("docs/old/deeper/x.txt", "new")
			h.write("docs/old/deep.txt", "new")
		}, []string{"docs/old/deep.txt", "docs/old/deeper/x.txt"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, p := range tree {
				full := filepath.Join(dir, filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte("v1"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h := newWatchHarness(t, dir, 20*time.Millisecond)
			h.checkWatches()
			c.move(h)
			h.settle()
			h.checkWatches()
			for _, p := range c.edits {
				h.write(p, "edited "+p)
				h.await(10*time.Second, p)
			}
			h.checkWatches()
		})
	}
}

// TestWatchScanAheadOfRename: a directory renamed by the user (docs → Docs, and a
// case-only rename is the common one) and scanned under its new name before the
// watcher reads the rename's events (the watcher waits in send while the engine runs
// a pass, and a pass scans the paths it touches): the scan's Add finds the kernel's
// watch of the directory, which the rename event's forget of docs then removed, and
// nothing under Docs was seen any more (a file the user renamed there was never
// uploaded, the client kept a content the server never got). Found by
// TestConvergence (clientapp) with -case.
func TestWatchScanAheadOfRename(t *testing.T) {
	for _, to := range []string{"Docs", "renamed"} {
		t.Run(to, func(t *testing.T) {
			dir := t.TempDir()
			for _, p := range []string{"docs/top.txt", "docs/old/deep.txt"} {
				full := filepath.Join(dir, filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte("v1"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h, start := newPausedWatchHarness(t, dir, 20*time.Millisecond)
			h.rename("docs", to)
			if _, err := h.e.disk.scan(to); err != nil {
				t.Fatal(err)
			}
			start()
			h.settle()
			h.checkWatches()
			for _, p := range []string{to + "/top.txt", to + "/old/deep.txt"} {
				h.write(p, "edited")
				h.await(10*time.Second, p)
			}
		})
	}
}

// TestWatchEngineMoveKeepsWatches: when the engine renames a directory itself (a move
// from the server), forget drops the old subtree's watches and the scan of the new name
// watches it; edits below it are seen.
func TestWatchEngineMoveKeepsWatches(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "a", "b", "c", "f.txt")
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newWatchHarness(t, dir, 20*time.Millisecond)
	// What tryLocalMove does after its rename.
	h.rename("a", "z")
	h.w.forget("a")
	if _, err := h.e.disk.scan("z"); err != nil {
		t.Fatal(err)
	}
	h.settle()
	h.checkWatches()
	h.write("z/b/c/f.txt", "v2")
	h.await(10*time.Second, "z/b/c/f.txt")
}

// TestWatchDebounce: a burst of writes below a renamed directory still arrives as a few
// batches, not one per event.
func TestWatchDebounce(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "d", "e", "f.txt")
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	const debounce = 50 * time.Millisecond
	h := newWatchHarness(t, dir, debounce)
	h.rename("d", "r")
	h.settle()
	start := time.Now()
	for i := 0; i < 40; i++ {
		h.write("r/e/f.txt", strings.Repeat("x", i))
	}
	// A burst slowed by a loaded machine spans more debounce windows: each may end
	// in a batch of its own, and still far fewer than the 40 writes.
	limit := 3 + int(time.Since(start)/debounce)
	h.await(10*time.Second, "r/e/f.txt")
	batches := 1
	for {
		select {
		case <-h.seen:
			batches++
			continue
		case <-time.After(500 * time.Millisecond):
		}
		break
	}
	if batches > limit {
		t.Fatalf("40 writes in a burst gave %d batches (at most %d); want them debounced", batches, limit)
	}
}
