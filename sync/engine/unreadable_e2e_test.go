package engine_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/fsys"
)

// deniedDir is a real folder (fsys.Dir) whose listing of one directory can be made to
// fail with EACCES, as a directory another user owns (mode 0700) or a Windows ACL
// denies; the tests run as root, where chmod alone does not deny.
type deniedDir struct {
	*fsys.Dir
	deny atomic.Pointer[string]
}

func (d *deniedDir) ReadDir(name string) ([]fs.DirEntry, error) {
	if p := d.deny.Load(); p != nil && path.Clean(name) == *p {
		return nil, &fs.PathError{Op: "readdirent", Path: name, Err: syscall.EACCES}
	}
	return d.Dir.ReadDir(name)
}

func (d *deniedDir) Open(name string) (fsys.File, error) {
	if p := d.deny.Load(); p != nil && path.Clean(name) == *p {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
	}
	return d.Dir.Open(name)
}

// A directory that cannot be listed (permission denied) is not a directory whose files
// were deleted: a pass keeps their last state and deletes nothing on the server, and
// once it can be read again everything is as before.
func TestUnreadableDirIsNotDeleted(t *testing.T) {
	c := startSyncd(t)
	dir := t.TempDir()
	var dd *deniedDir
	logs := &logBuf{}
	o := engine.Options{Root: dir, Remote: c, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		OpenFS: func(abs string) (fsys.FS, error) {
			d, err := fsys.OpenDir(abs)
			dd = &deniedDir{Dir: d}
			return dd, err
		}}
	for _, p := range []string{"private/a.txt", "private/sub/b.txt", "open.txt"} {
		os.MkdirAll(path.Join(dir, path.Dir(p)), 0o755)
		if err := os.WriteFile(path.Join(dir, p), []byte("content of "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e, err := engine.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	once := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		agreed, err := e.SyncOnce(ctx)
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		return agreed
	}
	once()
	want := []string{"open.txt", "private/a.txt", "private/sub/b.txt"}
	if got := serverNames(t, c); !eq(got, want...) {
		t.Fatalf("server after the first sync: %v", got)
	}
	for _, denied := range []string{"private", "private/sub"} {
		dd.deny.Store(&denied)
		if once() {
			t.Errorf("%s denied: --once reports agreement", denied)
		}
		if got := serverNames(t, c); !eq(got, want...) {
			t.Fatalf("%s denied: the server lost files: %v", denied, got)
		}
		// The same after a restart, from the saved state.
		e.Close()
		if e, err = engine.Open(o); err != nil {
			t.Fatal(err)
		}
		once()
		if got := serverNames(t, c); !eq(got, want...) {
			t.Fatalf("%s denied, after a restart: the server lost files: %v", denied, got)
		}
		dd.deny.Store(nil)
		if !once() {
			t.Errorf("%s readable again: no agreement", denied)
		}
		if got := serverNames(t, c); !eq(got, want...) {
			t.Fatalf("%s readable again: %v", denied, got)
		}
	}
	e.Close()
}
