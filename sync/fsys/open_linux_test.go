package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenBeneath: Open, OpenFile and the parents of RenameNoReplace keep os.Root's
// rule in one openat2 call and through the os.Root fallback alike: symlinks and names
// leading out of the folder are refused and create nothing outside, symlinks within
// it are followed, a missing parent is fs.ErrNotExist, a file as a parent IsNotDir.
func TestOpenBeneath(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		name := "openat2"
		if fallback {
			name = "os.Root"
		}
		t.Run(name, func(t *testing.T) {
			if fallback {
				noOpenat2.Store(true)
				defer noOpenat2.Store(false)
			}
			outside := t.TempDir()
			base := t.TempDir()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600))
			must(os.MkdirAll(filepath.Join(base, "in", "sub"), 0o755))
			must(os.Symlink(outside, filepath.Join(base, "out")))
			must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(base, "abs-link")))
			must(os.Symlink("in", filepath.Join(base, "rel")))
			d, err := OpenDir(base)
			must(err)
			defer d.Close()
			if f, ok, err := d.openBeneath(".", os.O_RDONLY, 0); !fallback && !ok {
				t.Skip("no openat2 on this kernel")
			} else if ok {
				must(err)
				f.Close()
			}

			for _, p := range []string{"out/secret", "../" + filepath.Base(outside) + "/secret", outside + "/secret", "abs-link", "in/../../x"} {
				if f, err := d.Open(p); err == nil {
					f.Close()
					t.Errorf("Open(%q) left the folder", p)
				}
				if f, err := d.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644); err == nil {
					f.Close()
					t.Errorf("OpenFile(%q) for writing left the folder", p)
				}
			}
			for _, p := range []string{"out/new", "../" + filepath.Base(outside) + "/new", outside + "/new"} {
				if f, err := d.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
					f.Close()
					t.Errorf("OpenFile(%q) created outside the folder", p)
				}
			}
			if des, _ := os.ReadDir(outside); len(des) != 1 {
				t.Fatalf("something was created outside: %v", des)
			}
			writeFile(t, d, "rel/sub/f", "F") // a symlink within the folder is followed
			if readString(t, d, "in/sub/f") != "F" {
				t.Fatal("write through a symlink within the folder went elsewhere")
			}
			f, err := d.OpenFile("in/sub/.tmp", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			must(err)
			f.Close()
			if fi, err := d.Lstat("in/sub/.tmp"); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("created file: %v %v", fi, err)
			}
			if _, err := d.OpenFile("in/sub/.tmp", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("O_EXCL on an existing name: %v", err)
			}
			must(d.RenameNoReplace("in/sub/.tmp", "in/sub/g"))
			if err := d.RenameNoReplace("in/sub/f", "in/sub/g"); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("no-replace rename onto a name: %v", err)
			}
			if err := d.RenameNoReplace("out/secret", "in/stolen"); err == nil {
				t.Fatal("renamed a file from outside the folder")
			}
			if _, err := d.OpenFile("nope/x", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("missing parent: %v", err)
			}
			if _, err := d.OpenFile("in/sub/g/x", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); !IsNotDir(err) {
				t.Fatalf("file as a parent: %v", err)
			}
			des, err := d.ReadDir("in/sub")
			if err != nil || len(des) != 2 {
				t.Fatalf("ReadDir: %v %v", des, err)
			}
		})
	}
}
