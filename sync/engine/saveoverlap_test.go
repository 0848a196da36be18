package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
)

// flushHookFS is a real folder whose SyncAll runs hook instead of syncfs.
type flushHookFS struct {
	*fsys.Dir
	calls atomic.Int32
	hook  func() error
}

func (f *flushHookFS) SyncAll() error {
	f.calls.Add(1)
	return f.hook()
}

// confirmRemote is hostileRemote with honest entries; changed is closed at the first
// read of the changes feed, which the confirming pass starts with.
type confirmRemote struct {
	*hostileRemote
	once    sync.Once
	changed chan struct{}
}

func (c *confirmRemote) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	c.once.Do(func() { close(c.changed) })
	return c.hostileRemote.Changes(ctx, since, epoch, limit)
}

// openFlushHook opens an engine on a new folder holding nothing, against a remote with
// two files, its flushes going to hook.
func openFlushHook(t *testing.T, hook func(r *confirmRemote) error) (*Engine, *flushHookFS, *confirmRemote) {
	t.Helper()
	r := &confirmRemote{changed: make(chan struct{}), hostileRemote: &hostileRemote{
		content: map[string]string{"a.txt": "A", "d/b.txt": "B"},
	}}
	for _, p := range []string{"a.txt", "d/b.txt"} {
		c := r.content[p]
		r.entries = append(r.entries, protocol.Metadata{Path: p, Hash: sum(c), Size: int64(len(c)), Seq: 1})
	}
	fs := &flushHookFS{hook: func() error { return hook(r) }}
	e, err := Open(Options{Root: t.TempDir(), Remote: r, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OpenFS: func(abs string) (fsys.FS, error) {
			d, err := fsys.OpenDir(abs)
			fs.Dir = d
			return fs, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, fs, r
}

// TestSaveOverlapsConfirmingPass: SyncOnce saves the state of its first pass (the
// flush that vouches for the files downloaded, then the write) while the confirming
// pass runs. The flush here returns only once the confirming pass has begun: saved
// one after the other, SyncOnce would fail. The first save of a new folder (an empty
// base) flushes nothing.
func TestSaveOverlapsConfirmingPass(t *testing.T) {
	e, fs, _ := openFlushHook(t, func(r *confirmRemote) error {
		select {
		case <-r.changed:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the flush waited for the confirming pass in vain")
		}
	})
	if n := fs.calls.Load(); n != 0 {
		t.Fatalf("opening a new folder flushed the file system %d times", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agreed, err := e.SyncOnce(ctx)
	if err != nil || !agreed {
		t.Fatalf("SyncOnce: %v, %v", agreed, err)
	}
	if fs.calls.Load() == 0 {
		t.Fatal("the downloads were never flushed")
	}
	st, _, err := loadState(filepath.Join(e.rootPath, stateDirName))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a.txt", "d/b.txt"} {
		if st.Base[k].Hash == "" {
			t.Fatalf("saved base lacks %s: %+v", k, st.Base)
		}
	}
}

// TestSaveFlushFailureFailsSyncOnce: a flush that fails while the confirming pass
// runs makes SyncOnce fail, and no state vouches for the files it did not flush.
func TestSaveFlushFailureFailsSyncOnce(t *testing.T) {
	errFlush := errors.New("flush failed")
	e, _, _ := openFlushHook(t, func(*confirmRemote) error { return errFlush })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.SyncOnce(ctx); !errors.Is(err, errFlush) {
		t.Fatalf("SyncOnce: %v, want the flush's error", err)
	}
	st, _, err := loadState(filepath.Join(e.rootPath, stateDirName))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Base) != 0 {
		t.Fatalf("a state vouches for unflushed files: %+v", st.Base)
	}
}
