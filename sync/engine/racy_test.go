package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
)

// racyDisk is a disk over a real temp folder, with that folder's mtime rule.
func racyDisk(t *testing.T) (disk, string) {
	t.Helper()
	dir := t.TempDir()
	root, err := fsys.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return disk{&Engine{root: root, times: fsys.FolderTimes(dir)}}, dir
}

// A file rewritten in place with the same size and the same mtime (one tick) after a
// hash taken within the racy window must be hashed again: the stat cannot tell. A
// round whose hash came later than the window (a stalled machine) proves nothing and
// is repeated.
func TestRacyRewriteSameStatIsSeen(t *testing.T) {
	d, dir := racyDisk(t)
	p := filepath.Join(dir, "f")
	for round := 0; round < 50; round++ {
		m := time.Now().Add(-5 * time.Millisecond) // within a tick of the write
		if m.Nanosecond() == 0 {
			m = m.Add(time.Nanosecond)
		}
		write := func(s string) {
			t.Helper()
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, m, m); err != nil {
				t.Fatal(err)
			}
		}
		write(fmt.Sprintf("a%03d", round))
		first, err := d.statLocal("f", nil)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if first.At-first.MtimeNs >= int64(d.windowFor(fi)) {
			continue // hashed after the window: a trusted hash, not this test's case
		}
		content := fmt.Sprintf("b%03d", round)
		write(content) // same inode, size and mtime
		second, err := d.statLocal("f", first)
		if err != nil {
			t.Fatal(err)
		}
		if !second.sameStat(*first) {
			t.Fatal("the rewrite changed the stat: the test does not test")
		}
		if second.Hash != sum(content) {
			t.Fatalf("rewrite within the racy window missed: hash %s kept", second.Hash)
		}
		return
	}
	t.Skip("no round hashed the file within the racy window (machine too slow)")
}

// A hash taken the fine window after the mtime is reused on a file system with fine
// mtimes, and only there; the 2-second window holds elsewhere.
func TestRacyWindowFollowsFileSystem(t *testing.T) {
	d, dir := racyDisk(t)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("aaaa"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := time.Now().Add(-time.Second)
	if m.Nanosecond() == 0 {
		m = m.Add(time.Nanosecond)
	}
	if err := os.Chtimes(p, m, m); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	fine := d.times.Fine(fi)
	if w := d.windowFor(fi); (w == fineRacyWindow) != fine || (w != fineRacyWindow && w != racyWindow) {
		t.Fatalf("window %v with Fine %v", w, fine)
	}
	first, err := d.statLocal("f", nil)
	if err != nil {
		t.Fatal(err)
	}
	trusted := first.At-first.MtimeNs >= int64(d.windowFor(fi)) // false only after a stall
	// Same stat, other bytes: only a trusted hash (no re-read) keeps the old one.
	if err := os.WriteFile(p, []byte("bbbb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, m, m); err != nil {
		t.Fatal(err)
	}
	second, err := d.statLocal("f", first)
	if err != nil {
		t.Fatal(err)
	}
	if reused := second.Hash == first.Hash; reused != trusted {
		t.Fatalf("hash reused %v, want %v (fine mtimes %v, hashed %v after the mtime)", reused, trusted, fine, time.Duration(first.At-first.MtimeNs))
	}
	// A whole-second mtime (a file system that stores seconds) is never fine.
	whole := m.Truncate(time.Second)
	if err := os.Chtimes(p, whole, whole); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(p); err != nil || d.windowFor(fi) != racyWindow {
		t.Fatalf("whole-second mtime: window %v (err %v), want %v", d.windowFor(fi), err, racyWindow)
	}
}
