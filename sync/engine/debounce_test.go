package engine

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
)

// recordingRemote is an empty server that accepts every upload and records what it
// got, in order.
type recordingRemote struct {
	hostileRemote
	mu      sync.Mutex
	seq     int64
	uploads []string // "path=content"
	got     chan struct{}
}

func (r *recordingRemote) Upload(ctx context.Context, p string, body io.Reader, size int64, o UploadOptions) (protocol.Metadata, bool, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	r.mu.Lock()
	r.seq++
	seq := r.seq
	r.uploads = append(r.uploads, p+"="+string(b))
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
	return protocol.Metadata{Path: p, Hash: sum(string(b)), Size: int64(len(b)), Seq: seq}, true, nil
}

func (r *recordingRemote) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uploads...)
}

// runRecording runs the engine on an empty folder against a recordingRemote until the
// test ends; it returns once the first full reconcile is done.
func runRecording(t *testing.T, debounce time.Duration) (string, *recordingRemote) {
	t.Helper()
	if w, err := fsys.NewDoneWatcher(); err != nil {
		t.Skipf("no completion hints on this platform (%v): only the trailing edge", err)
	} else {
		w.Close()
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ready.txt"), []byte("ready"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recordingRemote{got: make(chan struct{}, 1)}
	e, err := Open(Options{Root: dir, Remote: r, Debounce: debounce, OpenFS: testOpenFS(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		e.Close()
	})
	// The first reconcile uploads ready.txt; what follows is up to the watcher.
	r.awaitUpload(t, 10*time.Second, "first reconcile")
	time.Sleep(50 * time.Millisecond)
	r.mu.Lock()
	r.uploads = nil
	r.mu.Unlock()
	return e.rootPath, r
}

// awaitUpload waits for the next upload, failing after within.
func (r *recordingRemote) awaitUpload(t *testing.T, within time.Duration, what string) {
	t.Helper()
	select {
	case <-r.got:
	case <-time.After(within):
		t.Fatalf("%s: no upload within %v (uploads so far: %v)", what, within, r.list())
	}
}

// TestLeadingEdgeUploadsAtOnce: the first change after a quiet period is uploaded
// without waiting for the debounce. The debounce is 10 s here, so an upload within 5 s
// can only come from the leading edge.
func TestLeadingEdgeUploadsAtOnce(t *testing.T) {
	debounce := 10 * time.Second
	dir, r := runRecording(t, debounce)
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.awaitUpload(t, 5*time.Second, "new file")
	time.Sleep(debounce/10 + 100*time.Millisecond) // quiet again
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.awaitUpload(t, 5*time.Second, "edited file")
	if got, want := r.list(), []string{"a.txt=one", "a.txt=two"}; !slices.Equal(got, want) {
		t.Fatalf("uploads %v, want %v", got, want)
	}
}

// TestTwoStepWriteUploadedOnce: a file written in two steps, with a pause shorter than
// the debounce but longer than the quiet period that opens a leading edge, is uploaded
// once, with its final content: while its writer holds it open it is not complete.
func TestTwoStepWriteUploadedOnce(t *testing.T) {
	debounce := 400 * time.Millisecond
	dir, r := runRecording(t, debounce)
	f, err := os.Create(filepath.Join(dir, "doc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("first half;"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(debounce / 4)
	if _, err := f.WriteString("second half"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r.awaitUpload(t, 10*time.Second, "two-step write")
	time.Sleep(3 * debounce) // the trailing edge comes and finds nothing more to send
	if got, want := r.list(), []string{"doc.txt=first half;second half"}; !slices.Equal(got, want) {
		t.Fatalf("uploads %v, want %v", got, want)
	}
}

// TestIdlePassWritesNoState: a full pass that finds nothing new leaves the state
// file alone (no rewrite, no file-system flush); one that finds a local change saves.
func TestIdlePassWritesNoState(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Options{Root: dir, Remote: &hostileRemote{}, OpenFS: testOpenFS(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	state := filepath.Join(e.rootPath, stateDirName, stateFileName)
	// pass runs SyncOnce and returns the state file's content and mtime (the state
	// is written to a new file renamed over the old one).
	pass := func() (string, int64) {
		t.Helper()
		if _, err := e.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(state)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), fi.ModTime().UnixNano()
	}
	b1, c1 := pass()
	time.Sleep(20 * time.Millisecond) // a rewrite would get a later mtime
	if b2, c2 := pass(); b2 != b1 || c2 != c1 {
		t.Fatal("a pass that changed nothing rewrote the state file")
	}
	if err := os.WriteFile(filepath.Join(e.rootPath, "new.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b3, _ := pass(); b3 == b1 {
		t.Fatal("a pass that found a new local file did not save the state")
	}
}
