package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenDirBeneath: a directory beneath the descriptor opens (and syncs) in one
// call; a file, a symlink to a directory, a symlinked parent and a way out are each
// refused as not a directory, and a missing one is fs.ErrNotExist.
func TestOpenDirBeneath(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	for _, d := range []string{"root/a/b", "outside"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "a", "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"la": "a", "lout": "../outside"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := OpenPathFD(root)
	if err != nil {
		t.Fatal(err)
	}
	defer ClosePathFD(fd)
	for _, p := range []string{"a", "a/b"} {
		f, ok, err := OpenDirBeneath(fd, p, p)
		if !ok {
			t.Skip("no openat2")
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		fi, err := f.Stat()
		if err != nil || !fi.IsDir() || f.Sync() != nil {
			t.Fatalf("%s: %v %v", p, fi, err)
		}
		f.Close()
	}
	for _, p := range []string{"a/f", "la", "la/b", "lout", "../outside", "a/../../outside"} {
		if f, _, err := OpenDirBeneath(fd, p, p); !IsNotDir(err) {
			if f != nil {
				f.Close()
			}
			t.Fatalf("%s: %v, want not a directory", p, err)
		}
	}
	if _, _, err := OpenDirBeneath(fd, "a/missing", "a/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}
