//go:build unix

package tenants

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestOpenRefusesReplacedPaths replaces, by hand and without the watcher, indexed
// files and directories with symlinks, a FIFO and a directory, and checks that Open
// answers not_found at once (never follows a link, never blocks on a FIFO), while an
// untouched file still opens with content matching its metadata.
func TestOpenRefusesReplacedPaths(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	files := e.filesDir()
	secret := filepath.Join(e.dir, "secret.txt")
	must(t, os.WriteFile(secret, []byte("outside"), 0o600))
	for _, p := range []string{"ok.txt", "link.txt", "inner.txt", "fifo", "nowdir", "d/f.txt", "e/f.txt"} {
		e.put(p, []byte("content of "+p))
	}
	// attacks
	must(t, os.Remove(filepath.Join(files, "link.txt")))
	must(t, os.Symlink(secret, filepath.Join(files, "link.txt")))
	must(t, os.Remove(filepath.Join(files, "inner.txt")))
	must(t, os.Symlink("ok.txt", filepath.Join(files, "inner.txt"))) // stays inside the root
	must(t, os.Remove(filepath.Join(files, "fifo")))
	must(t, syscall.Mkfifo(filepath.Join(files, "fifo"), 0o600))
	must(t, os.Remove(filepath.Join(files, "nowdir")))
	must(t, os.Mkdir(filepath.Join(files, "nowdir"), 0o700))
	must(t, os.RemoveAll(filepath.Join(files, "d")))
	must(t, os.Symlink(filepath.Dir(secret), filepath.Join(files, "d"))) // parent leaves the root
	must(t, os.Rename(filepath.Join(files, "e"), filepath.Join(files, "e2")))
	must(t, os.Symlink("e2", filepath.Join(files, "e"))) // parent stays inside the root

	ctx := context.Background()
	for _, p := range []string{"link.txt", "inner.txt", "fifo", "nowdir", "d/f.txt", "e/f.txt", "missing.txt"} {
		done := make(chan error, 1)
		go func() {
			f, _, err := e.sp.Open(ctx, p)
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			wantCode(t, err, protocol.CodeNotFound)
		case <-time.After(10 * time.Second):
			t.Fatalf("Open(%q) hangs", p)
		}
	}
	if got := string(e.read("ok.txt")); got != "content of ok.txt" {
		t.Fatalf("ok.txt = %q", got)
	}
	// A closed space refuses at once, and its descriptor is released.
	sp := e.sp
	e.close()
	if _, _, err := sp.Open(ctx, "ok.txt"); err == nil {
		t.Fatal("Open after close succeeded")
	}
	if rt, ok := sp.blobs.(interface{ Closed() bool }); !ok || !rt.Closed() {
		t.Fatal("the files descriptor is not released after close")
	}
}
