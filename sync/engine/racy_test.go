package engine

import (
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
// hash taken within the racy window must be hashed again: the stat cannot tell.
func TestRacyRewriteSameStatIsSeen(t *testing.T) {
	d, dir := racyDisk(t)
	p := filepath.Join(dir, "f")
	m := time.Now().Add(-10 * time.Millisecond) // one tick ago: inside either window
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
	write("aaaa")
	first, err := d.statLocal("f", nil)
	if err != nil {
		t.Fatal(err)
	}
	write("bbbb") // same inode, size and mtime
	second, err := d.statLocal("f", first)
	if err != nil {
		t.Fatal(err)
	}
	if !second.sameStat(*first) {
		t.Skip("the file system changed the stat anyway")
	}
	if second.Hash == first.Hash {
		t.Fatalf("rewrite within the racy window missed: hash %s kept", first.Hash)
	}
	if want := sum("bbbb"); second.Hash != want {
		t.Fatalf("hash %s, want %s", second.Hash, want)
	}
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
	if reused := second.Hash == first.Hash; reused != fine {
		t.Fatalf("hash reused %v on a file system with fine mtimes %v (1 s after the mtime)", reused, fine)
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
