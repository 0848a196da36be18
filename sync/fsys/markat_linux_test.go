package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestMarkAt checks that MarkAt describes a name in an open directory as StatMark
// describes its lstat: a file, a directory, a symlink (not followed), and that a
// missing name matches fs.ErrNotExist.
func TestMarkAt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"f", "d", "l"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, ok := StatMark(fi)
		if !ok {
			t.Fatal("no StatMark")
		}
		got, err := MarkAt(d, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want {
			t.Fatalf("%s: MarkAt %+v, StatMark of lstat %+v", name, got, want)
		}
	}
	f, _ := MarkAt(d, "f")
	if f.Size != 7 || f.IsDir || f.Ctime == 0 {
		t.Fatalf("file mark %+v", f)
	}
	if m, _ := MarkAt(d, "d"); !m.IsDir {
		t.Fatalf("directory mark %+v", m)
	}
	if _, err := MarkAt(d, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing name: %v", err)
	}
}
