package tenants

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestStartCheckInBackground: a server's spaces open without waiting for the start-up
// check of the disk (held here by the hook), reads during the check answer what the
// disk holds, and the check then commits what was changed by hand while syncd was
// down, with a gapless log.
func TestStartCheckInBackground(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 200 {
		e.put(fmt.Sprintf("d%d/f%03d.txt", i%10, i), []byte("same"))
	}
	e.put("edited.txt", []byte("before"))
	e.put("deleted.txt", []byte("gone soon"))
	_, head := e.sp.Head()
	e.close()
	files := e.filesDir()
	must(t, os.WriteFile(filepath.Join(files, "edited.txt"), []byte("after, by hand"), 0o600))
	must(t, os.Remove(filepath.Join(files, "deleted.txt")))
	must(t, os.WriteFile(filepath.Join(files, "d3", "new.txt"), []byte("new"), 0o600))

	e.open()
	held, release := make(chan struct{}), make(chan struct{})
	e.reg.startCheckHook = func(string) {
		close(held)
		<-release
	}
	started := make(chan error, 1)
	go func() { started <- e.reg.StartWatchers(ctx) }()
	select {
	case err := <-started:
		must(t, err)
	case <-time.After(20 * time.Second):
		close(release)
		t.Fatal("StartWatchers waits for the start-up check")
	}
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		if w, err := fsnotify.NewWatcher(); err != nil {
			t.Skipf("no watcher on this machine now: %v", err) // inotify instances used up by other processes
		} else {
			w.Close()
		}
		t.Fatal("the start-up check was not left to the watcher")
	}
	sp := e.space()
	select {
	case <-sp.start.done:
		t.Fatal("start-up check done while held")
	default:
	}
	if _, h := sp.Head(); h != head {
		t.Fatalf("head %d before the check, want %d", h, head)
	}
	// Usage is known during the check (the counters load on their own).
	if u, err := sp.Usage(ctx); err != nil || u.Entries != 10+202 {
		t.Fatalf("usage during the check: %+v %v", u, err)
	}
	// Reads during the check answer the disk's state.
	f, m, err := sp.Open(ctx, "edited.txt")
	must(t, err)
	b, err := io.ReadAll(f)
	f.Close()
	must(t, err)
	if string(b) != "after, by hand" || m.Hash != sum(b) || m.Size != int64(len(b)) {
		t.Fatalf("read during the check: %q with %+v", b, m)
	}
	_, err = sp.Stat(ctx, "deleted.txt")
	wantCode(t, err, protocol.CodeNotFound)
	if m, err := sp.Stat(ctx, "d1/f011.txt"); err != nil || m.Hash != sum([]byte("same")) {
		t.Fatalf("unchanged file during the check: %+v %v", m, err)
	}
	// A write during the check counts once.
	if _, _, err := sp.Put(ctx, "during.txt", bytes.NewReader([]byte("during")), PutOptions{Size: 6}); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case <-sp.start.done:
	case <-time.After(20 * time.Second):
		t.Fatal("start-up check never done")
	}
	if m, err := sp.Stat(ctx, "d3/new.txt"); err != nil || m.Hash != sum([]byte("new")) {
		t.Fatalf("file added while down: %+v %v", m, err)
	}
	all, err := sp.Changes(ctx, 0, "", 0)
	must(t, err)
	if _, h := sp.Head(); int64(len(all.Events)) != h || h != head+4 {
		t.Fatalf("%d events up to head %d, want %d", len(all.Events), h, head+4)
	}
	tree := e.list()
	sameTree(t, tree, replay(all.Events))
	var used int64
	for _, m := range tree {
		used += m.Size
	}
	if u, err := sp.Usage(ctx); err != nil || u.Entries != int64(len(tree)) || u.Used != used {
		t.Fatalf("usage %+v %v, want %d entries, %d bytes", u, err, len(tree), used)
	}
}

// TestReconcileBatches: files placed on disk while syncd was down are committed a
// batch at a time (not one write each), every one with its own event, gapless, and
// a file that changes between its hash and its commit is left for a later look.
func TestReconcileBatches(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	_, head := e.sp.Head()
	e.close()
	const n = 600
	for i := range n {
		d := filepath.Join(e.filesDir(), fmt.Sprintf("d%d", i%2))
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, fmt.Sprintf("f%03d", i)), []byte(fmt.Sprint(i)), 0o600))
	}
	e.open()
	before := e.reg.commits.Load()
	sp := e.space()
	commits := e.reg.commits.Load() - before
	if commits > 2+2*(n/2/reconcileBatch+1) {
		t.Fatalf("%d writes for %d files", commits, n)
	}
	all, err := sp.Changes(ctx, 0, "", 0)
	must(t, err)
	if _, h := sp.Head(); h != head+n+2 || int64(len(all.Events)) != h {
		t.Fatalf("head %d with %d events, want %d", h, len(all.Events), head+n+2)
	}
	sameTree(t, e.list(), replay(all.Events))
	if m, err := sp.Stat(ctx, "d1/f599"); err != nil || m.Hash != sum([]byte("599")) {
		t.Fatalf("%+v %v", m, err)
	}
}

// logBuffer is a log sink safe for the watcher's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartCheckOverLimits: files placed on disk while syncd was down are indexed
// whatever the limits (they are the tenant's data); the check then says in the log
// that the tenant is over its entry limit and quota, new files are refused with the
// SPEC's codes, and replacing or deleting what is there still works.
func TestStartCheckOverLimits(t *testing.T) {
	e := newEnv(t, Limits{MaxEntries: 5}, Options{Quota: 100})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 3 {
		e.put(fmt.Sprintf("f%d.txt", i), []byte("ten bytes!"))
	}
	e.close()
	for i := 3; i < 8; i++ {
		must(t, os.WriteFile(filepath.Join(e.filesDir(), fmt.Sprintf("f%d.txt", i)), []byte("placed by hand, twenty"), 0o600))
	}
	var logs logBuffer
	e.logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.open()
	must(t, e.reg.StartWatchers(ctx))
	sp := e.space()
	select {
	case <-sp.start.done:
	case <-time.After(20 * time.Second):
		if w, err := fsnotify.NewWatcher(); err != nil {
			t.Skipf("no watcher on this machine now: %v", err)
		} else {
			w.Close()
		}
		t.Fatal("start-up check never done")
	}
	u, err := sp.Usage(ctx)
	must(t, err)
	if u.Entries != 8 || u.Used != 3*10+5*22 {
		t.Fatalf("usage after the check: %+v", u)
	}
	out := logs.String()
	for _, want := range []string{"over its entry limit", "entries=8", "max_entries=5", "over its quota", "used=140", "quota=100"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
	_, _, err = sp.Put(ctx, "new.txt", bytes.NewReader([]byte("x")), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeTooLarge)
	if _, _, err := sp.Put(ctx, "f0.txt", bytes.NewReader([]byte("sm")), PutOptions{Size: 2}); err != nil {
		t.Fatalf("a shrinking replace over the limits: %v", err)
	}
	if _, err := sp.Delete(ctx, "f7.txt", DeleteOptions{}); err != nil {
		t.Fatalf("a delete over the limits: %v", err)
	}
}
