package engine_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A local symlink to a directory inside DIR is neither followed nor synced: server
// files under its name are not written through it into the directory it points to
// (where they were then uploaded again under that directory's name, replacing its
// files on the server and on every client).
func TestServerFilesUnderLocalSymlinkDirNotWrittenThrough(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	if err := b.fs.MkdirAll("real", 0o755); err != nil {
		t.Fatal(err)
	}
	b.write(t, "real/a.txt", "b's own a")
	b.sync(t)
	if err := os.Symlink("real", filepath.Join(b.dir, "link")); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	if err := a.fs.MkdirAll("link", 0o755); err != nil {
		t.Fatal(err)
	}
	a.write(t, "link/a.txt", "a's link/a.txt")
	a.write(t, "link/new.txt", "a's link/new.txt")
	a.sync(t)
	b.sync(t)
	b.sync(t)
	if got := b.names(t); !eq(got, "real/a.txt") {
		t.Errorf("B wrote through its symlink: %v", got)
	}
	if got := b.read(t, "real/a.txt"); got != "b's own a" {
		t.Errorf("B's real/a.txt holds %q", got)
	}
	if got := serverNames(t, c); !eq(got, "link/a.txt", "link/new.txt", "real/a.txt") {
		t.Errorf("server: %v", got)
	}
	a.sync(t)
	if got := a.read(t, "real/a.txt"); got != "b's own a" {
		t.Errorf("A's real/a.txt holds %q", got)
	}
}

// A server move into a directory that is a local symlink here is not carried out
// through the link: the file leaves this folder (its new place is not synced here)
// and the directory the link points to gets nothing.
func TestServerMoveUnderLocalSymlinkDirNotWrittenThrough(t *testing.T) {
	c := startSyncd(t)
	a := openSide(t, c, false)
	if err := a.fs.MkdirAll("link", 0o755); err != nil {
		t.Fatal(err)
	}
	a.write(t, "x.txt", "moved")
	a.write(t, "link/keep.txt", "keep")
	settle(t, a)
	b := &side{dir: t.TempDir(), logs: &logBuf{}}
	if err := os.Mkdir(filepath.Join(b.dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(b.dir, "link")); err != nil {
		t.Fatal(err)
	}
	stop := runLive(t, c, b)
	defer stop()
	if got := b.names(t); !eq(got, "x.txt") {
		t.Fatalf("B after its first pass: %v", got)
	}
	if err := a.fs.Rename("x.txt", "link/x.txt"); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	for deadline := time.Now().Add(30 * time.Second); len(b.names(t)) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("B holds %v, want nothing (x.txt moved under its symlink)", b.names(t))
		}
	}
	stop()
	b.sync(t)
	if got := b.names(t); len(got) != 0 {
		t.Errorf("B: %v", got)
	}
	if got := serverNames(t, c); !eq(got, "link/keep.txt", "link/x.txt") {
		t.Errorf("server: %v", got)
	}
}
