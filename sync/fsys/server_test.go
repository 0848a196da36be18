//go:build unix

package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestLinkAtDiskFreeStatMark(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Open(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := LinkAt(src, "f", dst, "g"); err != nil {
		t.Fatal(err)
	}
	fi1, err1 := os.Lstat(filepath.Join(dir, "a", "f"))
	fi2, err2 := os.Lstat(filepath.Join(dir, "b", "g"))
	if err1 != nil || err2 != nil || !os.SameFile(fi1, fi2) {
		t.Fatalf("link: %v %v, same file %v", err1, err2, err1 == nil && err2 == nil && os.SameFile(fi1, fi2))
	}
	if err := LinkAt(src, "f", dst, "g"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("link over an existing name: %v", err)
	}
	if free, err := DiskFree(dir); err != nil || free == 0 {
		t.Fatalf("disk free %d %v", free, err)
	}
	m, ok := StatMark(fi1)
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		if !ok || m.Ino != FileID(fi1) || m.Size != 1 || m.Mtime != fi1.ModTime().UnixNano() || m.Ctime == 0 || m.IsDir {
			t.Fatalf("mark %+v %v", m, ok)
		}
	}
}

func TestOpenFileBeneath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	fd, err := OpenPathFD(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ClosePathFD(fd)
	f, ok, err := OpenFileBeneath(fd, "f", filepath.Join(dir, "f"))
	if !ok {
		t.Skip("no openat2 here")
	}
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, name := range []string{"l", "missing", "../f"} {
		if _, _, err := OpenFileBeneath(fd, name, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want not exist", name, err)
		}
	}
}
