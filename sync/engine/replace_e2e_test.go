package engine_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// editInPlace rewrites the file p under dir through its open inode (most programs).
func editInPlace(t *testing.T, dir, p string) {
	if err := os.WriteFile(filepath.Join(dir, p), []byte("the user's edit"), 0o644); err != nil {
		t.Error(err)
	}
}

// saveOver writes a new file and renames it over p (an editor's atomic save).
func saveOver(t *testing.T, dir, p string) {
	tmp := filepath.Join(dir, "edit.tmp")
	if err := os.WriteFile(tmp, []byte("the user's edit"), 0o644); err != nil {
		t.Error(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, p)); err != nil {
		t.Error(err)
	}
}

// An edit made to a synced file after a download's last check of it and before the
// rename that replaces it (simulated by the engine's test hook, on a real folder,
// against a real syncd) survives as a conflict copy, and the downloaded content is in
// place; the copy then reaches the other side. On Linux the swap (RENAME_EXCHANGE)
// catches an edit in place and a file saved over by rename; on the Windows-rules fake
// (no swap: a hard link and a last stat) an edit in place.
func TestEditDuringReplaceKeptAsConflictCopy(t *testing.T) {
	untouched := func(*testing.T, string, string) {}
	deleted := func(t *testing.T, dir, p string) {
		if err := os.Remove(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
	cases := []struct {
		name    string
		windows bool
		edit    func(t *testing.T, dir, p string)
		copy    bool // a conflict copy is expected
	}{
		{"exchange/edit in place", false, editInPlace, true},
		{"exchange/saved over", false, saveOver, true},
		{"exchange/untouched", false, untouched, false},
		{"exchange/deleted", false, deleted, false},
		{"link/edit in place", true, editInPlace, true},
		{"link/untouched", true, untouched, false},
		{"link/deleted", true, deleted, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startSyncd(t)
			a, b := openSide(t, c, false), openSide(t, c, tc.windows)
			a.write(t, "f.txt", "v1")
			settle(t, a, b)
			a.write(t, "f.txt", "v2 from the server")
			a.sync(t)
			syncEditingAtReplace(t, b, "f.txt", tc.edit, "the download never reached the replace")
			settle(t, b, a)
			for _, s := range []*side{b, a} {
				names := s.names(t) // sorted: the copy first; a leftover temp file would show
				if !tc.copy {
					if len(names) != 1 || s.read(t, "f.txt") != "v2 from the server" {
						t.Fatalf("%s holds %q, want only f.txt, downloaded", s.dir, names)
					}
					continue
				}
				if len(names) != 2 || names[1] != "f.txt" || !strings.HasPrefix(names[0], "f.sync-conflict-") {
					t.Fatalf("%s holds %q, want f.txt and its conflict copy", s.dir, names)
				}
				if got := s.read(t, "f.txt"); got != "v2 from the server" {
					t.Fatalf("%s: f.txt holds %q", s.dir, got)
				}
				if got := s.read(t, names[0]); got != "the user's edit" {
					t.Fatalf("%s: the conflict copy holds %q", s.dir, got)
				}
			}
			if got := serverNames(t, c); len(got) != map[bool]int{false: 1, true: 2}[tc.copy] {
				t.Fatalf("server: %q", got)
			}
		})
	}
}

// An edit made to a synced file after the last check before the server's delete is
// carried out here (the engine's test hook again) is kept at its name and uploaded
// (modify beats delete): the delete takes the file out by a rename first and deletes
// it only if it still holds what was checked. On the plain folder and on the fake.
func TestEditDuringDeleteIsKept(t *testing.T) {
	untouched := func(*testing.T, string, string) {}
	cases := []struct {
		name    string
		windows bool
		edit    func(t *testing.T, dir, p string)
		kept    bool
	}{
		{"plain/edit in place", false, editInPlace, true},
		{"plain/saved over", false, saveOver, true},
		{"plain/untouched", false, untouched, false},
		{"fake/edit in place", true, editInPlace, true},
		{"fake/saved over", true, saveOver, true},
		{"fake/untouched", true, untouched, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startSyncd(t)
			a, b := openSide(t, c, false), openSide(t, c, tc.windows)
			a.write(t, "f.txt", "v1")
			a.write(t, "g.txt", "stays")
			settle(t, a, b)
			if err := a.fs.Remove("f.txt"); err != nil {
				t.Fatal(err)
			}
			a.sync(t)
			syncEditingAtReplace(t, b, "f.txt", tc.edit, "the delete never reached the hook")
			settle(t, b, a)
			want := []string{"g.txt"}
			if tc.kept {
				want = []string{"f.txt", "g.txt"}
			}
			for _, s := range []*side{b, a} {
				if names := s.names(t); !eq(names, want...) {
					t.Fatalf("%s holds %q, want %q", s.dir, names, want)
				}
				if tc.kept && s.read(t, "f.txt") != "the user's edit" {
					t.Fatalf("%s: f.txt holds %q", s.dir, s.read(t, "f.txt"))
				}
			}
			if got := serverNames(t, c); !eq(got, want...) {
				t.Fatalf("server: %q, want %q", got, want)
			}
		})
	}
}

// A file made at a server move's target after the client found the target free, and
// before it renames its own file there, is kept: that rename never replaces, the move
// is then synced by content, and the new file becomes a conflict copy (it was
// overwritten by the moved file before). b runs live, so the move arrives as an event.
func TestFileMadeAtMoveTargetIsKept(t *testing.T) {
	c := startSyncd(t)
	a := openSide(t, c, false)
	b := &side{dir: t.TempDir(), logs: &logBuf{}}
	a.write(t, "a.txt", "moved content")
	settle(t, a)
	var fired atomic.Int32
	restore := engine.SetBeforeReplaceForTest(func(target string) {
		if target == "b.txt" && fired.Add(1) == 1 {
			if err := os.WriteFile(filepath.Join(b.dir, "b.txt"), []byte("the user's new file"), 0o644); err != nil {
				t.Error(err)
			}
		}
	})
	defer restore()
	stop := runLive(t, c, b)
	defer stop()
	if err := a.fs.Rename("a.txt", "b.txt"); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	for deadline := time.Now().Add(60 * time.Second); fired.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the move never reached the local rename")
		}
	}
	for deadline := time.Now().Add(60 * time.Second); len(b.names(t)) != 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("b holds %q", b.names(t))
		}
	}
	stop()
	settle(t, b, a)
	for _, s := range []*side{b, a} {
		names := s.names(t) // sorted: the copy first
		if len(names) != 2 || names[1] != "b.txt" || !strings.HasPrefix(names[0], "b.sync-conflict-") {
			t.Fatalf("%s holds %q, want b.txt and its conflict copy", s.dir, names)
		}
		if got := s.read(t, "b.txt"); got != "moved content" {
			t.Fatalf("%s: b.txt holds %q", s.dir, got)
		}
		if got := s.read(t, names[0]); got != "the user's new file" {
			t.Fatalf("%s: the conflict copy holds %q", s.dir, got)
		}
	}
}

// runLive opens an engine on s.dir (a new side) that runs live (WebSocket, polling
// every second), waits for its first pass to have synced, and returns the function
// that stops it; s can then be synced with SyncOnce as any side.
func runLive(t *testing.T, c *syncclient.Client, s *side) (stop func()) {
	t.Helper()
	e, err := engine.Open(engine.Options{Root: s.dir, Remote: c, Realtime: true, Interval: time.Second,
		Logger: slog.New(slog.NewTextHandler(s.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.e = e
	if s.fs, err = fsys.OpenDir(s.dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stop = func() {
		if cancel != nil {
			cancel()
			cancel = nil
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	t.Cleanup(func() {
		stop()
		e.Close()
		s.fs.Close()
		if t.Failed() {
			t.Logf("engine logs (%s):\n%s", s.dir, s.logs.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); e.Status().LastSync.IsZero(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the first pass")
		}
	}
	time.Sleep(300 * time.Millisecond) // the live connection up
	return stop
}

// A server case-only rename (report.txt → Report.txt) reaching a case-sensitive disk
// that holds both names, Report.txt kept but not synced, never replaces that file:
// the local rename is refused and the rename synced by content (before, the synced
// file was renamed over the other).
func TestCaseOnlyMoveKeepsOtherSpelling(t *testing.T) {
	c := startSyncd(t)
	a := openSide(t, c, false)
	b := &side{dir: t.TempDir(), logs: &logBuf{}}
	a.write(t, "report.txt", "synced")
	settle(t, a)
	stop := runLive(t, c, b)
	defer stop()
	if err := os.WriteFile(filepath.Join(b.dir, "Report.txt"), []byte("only here"), 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(b.logs.String(), "Report.txt"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second spelling was never reported")
		}
	}
	if err := a.fs.Rename("report.txt", "Report.txt"); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	if got := serverNames(t, c); !eq(got, "Report.txt") {
		t.Fatalf("server: %q", got)
	}
	time.Sleep(2 * time.Second) // the move applied (or refused) by b
	stop()
	b.sync(t)
	if got := b.read(t, "Report.txt"); got != "only here" {
		t.Fatalf("Report.txt, kept but not synced, now holds %q; b holds %q", got, b.names(t))
	}
}

// syncEditingAtReplace runs one sync pass of s with edit applied to target, once, at
// the engine's test hook just before it replaces or deletes target; it fails with
// notReached if the pass never got there.
func syncEditingAtReplace(t *testing.T, s *side, target string, edit func(t *testing.T, dir, p string), notReached string) {
	t.Helper()
	var fired atomic.Int32
	restore := engine.SetBeforeReplaceForTest(func(p string) {
		if p == target && fired.Add(1) == 1 {
			edit(t, s.dir, p)
		}
	})
	s.sync(t)
	restore()
	if fired.Load() == 0 {
		t.Fatal(notReached)
	}
}
