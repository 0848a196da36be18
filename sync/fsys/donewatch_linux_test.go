package fsys

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDoneWatcher: a file is reported when its writer closes it, not when it is
// created or written; renames, deletes and new directories are not reported; a
// removed watch reports nothing more.
func TestDoneWatcher(t *testing.T) {
	dir := t.TempDir()
	w, err := NewDoneWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	next := func(want string) {
		t.Helper()
		select {
		case got := <-w.Events():
			if got != filepath.Join(dir, want) {
				t.Fatalf("event %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event for %q", want)
		}
	}
	none := func() {
		t.Helper()
		select {
		case got := <-w.Events():
			t.Fatalf("unexpected event %q", got)
		case <-time.After(100 * time.Millisecond):
		}
	}
	f, err := os.Create(filepath.Join(dir, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("half"); err != nil {
		t.Fatal(err)
	}
	none() // open for writing: not done
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	next("a.txt")
	// Renames, new directories and deletes are not reported: they are left to the
	// change watcher and its quiet period.
	if err := os.Rename(filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "b.txt")); err != nil {
		t.Fatal(err)
	}
	none()
	w.Remove(dir)
	if err := os.WriteFile(filepath.Join(dir, "c.txt"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	none()
}
