//go:build unix

package rootblobs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/blob"
)

// TestCreateTemp: a temp file is created exclusively (an existing name or a symlink
// there fails, and the symlink's target is untouched), its mode is exactly 0600 once
// its time is set whatever the umask, and the time is stored to the nanosecond; by
// tmp/'s descriptor (Linux) and through the root alike.
func TestCreateTemp(t *testing.T) {
	for _, viaRoot := range []bool{false, true} {
		name := "descriptor"
		if viaRoot {
			name = "root"
		}
		t.Run(name, func(t *testing.T) {
			_, tn := openT(t)
			if viaRoot {
				fsys.ClosePathFD(tn.tmpFD)
				tn.tmpFD = -1
			} else if runtime.GOOS == "linux" && tn.tmpFD < 0 {
				t.Fatal("no descriptor of tmp/ on Linux")
			}
			tmpDir := filepath.Join(tn.dir, "tmp")

			old := syscall.Umask(0o277) // leaves 0400 of 0600
			tmp, err := tn.CreateTemp("up-1")
			syscall.Umask(old)
			must(t, err)
			if f := tmp.(*temp).File; f.Name() != filepath.Join(tmpDir, "up-1") {
				t.Errorf("name %q", f.Name())
			}
			_, err = tmp.Write([]byte("data"))
			must(t, err)
			mod := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
			got, err := tmp.SetModTime(mod)
			must(t, err)
			if !got.Equal(mod) {
				t.Errorf("stored mtime %v, want %v", got, mod)
			}
			must(t, tmp.Sync())
			must(t, tmp.Close())
			fi, err := os.Lstat(filepath.Join(tmpDir, "up-1"))
			must(t, err)
			if fi.Mode() != blob.FilePerm {
				t.Errorf("mode %v, want %v", fi.Mode(), fs.FileMode(blob.FilePerm))
			}
			if !fi.ModTime().Equal(mod) {
				t.Errorf("mtime on disk %v, want %v", fi.ModTime(), mod)
			}
			if b, _ := os.ReadFile(filepath.Join(tmpDir, "up-1")); string(b) != "data" {
				t.Errorf("content %q", b)
			}

			// Exclusive: the same name again, or a symlink there, fails.
			if _, err := tn.CreateTemp("up-1"); !errors.Is(err, fs.ErrExist) {
				t.Errorf("existing name: %v, want fs.ErrExist", err)
			}
			target := filepath.Join(t.TempDir(), "outside")
			must(t, os.WriteFile(target, []byte("keep"), 0o600))
			must(t, os.Symlink(target, filepath.Join(tmpDir, "up-2")))
			if _, err := tn.CreateTemp("up-2"); !errors.Is(err, fs.ErrExist) {
				t.Errorf("symlink at the name: %v, want fs.ErrExist", err)
			}
			if b, _ := os.ReadFile(target); string(b) != "keep" {
				t.Errorf("symlink target changed: %q", b)
			}
			for _, bad := range []string{"", ".", "..", "a/b", "../up-3"} {
				if f, err := tn.CreateTemp(bad); err == nil {
					f.Close()
					t.Errorf("CreateTemp(%q) succeeded", bad)
				}
			}
			if _, err := os.Lstat(filepath.Join(tn.dir, "up-3")); err == nil {
				t.Error("a temp file was created outside tmp/")
			}
		})
	}
}
