package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/syncspace/syncspace/sync/engine"
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
			var fired atomic.Int32
			restore := engine.SetBeforeReplaceForTest(func(target string) {
				if target == "f.txt" && fired.Add(1) == 1 {
					tc.edit(t, b.dir, target)
				}
			})
			b.sync(t)
			restore()
			if fired.Load() == 0 {
				t.Fatal("the download never reached the replace")
			}
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
