package tenants

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
)

// flushStages tell the flushes of one upload apart by the synced file's name.
var flushStages = []struct {
	name  string
	match func(name string) bool
}{
	{"temp file", func(n string) bool {
		return strings.Contains(n, string(filepath.Separator)+"tmp"+string(filepath.Separator))
	}},
	{"directory", func(n string) bool { return strings.Contains(n, string(filepath.Separator)+"files") }},
	{"log row (WAL)", func(n string) bool { return strings.HasSuffix(n, "-wal") }},
}

// TestPutAnswersOnlyAfterEveryFlush holds each flush of an upload in turn (the temp
// file, the directory entry, the SQLite WAL commit) through sync/fsys's hook and
// checks that Put does not return before it is released: a 2xx sent before the file,
// its directory entry or its log row were on disk fails this test.
func TestPutAnswersOnlyAfterEveryFlush(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	for i, st := range flushStages {
		t.Run(st.name, func(t *testing.T) {
			reached, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			old := fsys.SetSyncHook(func(name string) error {
				if strings.HasPrefix(name, e.dir) && st.match(name) {
					once.Do(func() { close(reached) })
					<-release
				}
				return nil
			})
			defer func() { fsys.SetSyncHook(old) }()
			done := make(chan error, 1)
			data := []byte(st.name + " content")
			go func() {
				_, _, err := e.sp.Put(context.Background(), "f"+string(rune('a'+i))+".bin", bytes.NewReader(data), PutOptions{Size: int64(len(data))})
				done <- err
			}()
			select {
			case <-reached:
			case err := <-done:
				close(release)
				t.Fatalf("Put returned (err %v) without flushing the %s", err, st.name)
			case <-time.After(10 * time.Second):
				close(release)
				t.Fatalf("the %s was never flushed", st.name)
			}
			select {
			case err := <-done:
				close(release)
				t.Fatalf("Put returned (err %v) while the flush of the %s was still held", err, st.name)
			case <-time.After(150 * time.Millisecond):
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPutFailsOnFlushFault injects an fsync error at the temp file and at the
// directory: Put must fail, never answer success.
func TestPutFailsOnFlushFault(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	for i, st := range flushStages[:2] {
		t.Run(st.name, func(t *testing.T) {
			fault := errors.New("injected fsync failure")
			old := fsys.SetSyncHook(func(name string) error {
				if strings.HasPrefix(name, e.dir) && st.match(name) {
					return fault
				}
				return nil
			})
			data := []byte("faulty " + st.name)
			_, _, err := e.sp.Put(context.Background(), "bad"+string(rune('a'+i))+".bin", bytes.NewReader(data), PutOptions{Size: int64(len(data))})
			fsys.SetSyncHook(old)
			if err == nil {
				t.Fatalf("Put succeeded although the %s's fsync failed", st.name)
			}
		})
	}
	checkConsistent(t, e)
}

// TestSmallTempFileSharesFlushes: a small upload's temp file is flushed through the
// store's Flusher (its fsync can share a syncfs with the other files being flushed),
// a large one's on its own (so that small uploads never wait for its write-back).
// Both are flushed before Put returns: TestPutAnswersOnlyAfterEveryFlush.
func TestSmallTempFileSharesFlushes(t *testing.T) {
	if fl, _ := fsys.NewFlusher(t.TempDir()); fl == nil {
		t.Skip("no syncfs here: no Flusher")
	} else {
		fl.Close()
	}
	e := newEnv(t, Limits{}, Options{})
	for _, tc := range []struct {
		name    string
		size    int
		flushed int64 // requests made to the Flusher: the directory, and the temp file if shared
	}{{"small", 4 << 10, 2}, {"large", 1 << 20, 1}} {
		_, req0, _ := fsys.FlushStats()
		data := bytes.Repeat([]byte("x"), tc.size)
		if _, _, err := e.sp.Put(context.Background(), tc.name+".bin", bytes.NewReader(data), PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, req1, _ := fsys.FlushStats(); req1-req0 != tc.flushed {
			t.Errorf("%s upload: %d requests to the Flusher, want %d", tc.name, req1-req0, tc.flushed)
		}
	}
}

// TestRetryAfterFailedDirFlushFlushes: an upload whose batch committed but failed its
// directory fsyncs gets an error; the client's retry is an identical PUT, which
// changes nothing but must still flush the directories of the path (up to files/)
// before it answers: a 2xx without them would promise a directory entry that may not
// be on disk. A failure of that flush fails the retry.
func TestRetryAfterFailedDirFlushFlushes(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	const p = "d1/d2/r.bin"
	data := []byte("retried")
	batchFault = func(stage string) error {
		if stage == "sync" {
			return errors.New("injected fsync failure")
		}
		return nil
	}
	t.Cleanup(func() { batchFault = nil })
	_, _, err := e.sp.Put(ctx, p, bytes.NewReader(data), PutOptions{Size: int64(len(data))})
	batchFault = nil
	if err == nil {
		t.Fatal("Put succeeded although its directory fsyncs failed")
	}
	files := e.filesDir()
	var mu sync.Mutex
	flushed := map[string]bool{}
	fail := true
	old := fsys.SetSyncHook(func(name string) error {
		if rel, err := filepath.Rel(files, name); err == nil && !strings.HasPrefix(rel, "..") {
			mu.Lock()
			defer mu.Unlock()
			flushed[filepath.ToSlash(rel)] = true
			if fail {
				return errors.New("injected fsync failure")
			}
		}
		return nil
	})
	defer func() { fsys.SetSyncHook(old) }()
	if _, _, err := e.sp.Put(ctx, p, bytes.NewReader(data), PutOptions{Size: int64(len(data))}); err == nil {
		t.Fatal("the retry succeeded although the directory fsyncs failed again")
	}
	mu.Lock()
	fail, flushed = false, map[string]bool{}
	mu.Unlock()
	_, head := e.sp.Head()
	if _, created, err := e.sp.Put(ctx, p, bytes.NewReader(data), PutOptions{Size: int64(len(data))}); err != nil || created {
		t.Fatalf("retry: created %v, err %v", created, err)
	}
	if _, h := e.sp.Head(); h != head {
		t.Errorf("the retry made a change: head %d → %d", head, h)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, d := range []string{"d1/d2", "d1", "."} {
		if !flushed[d] {
			t.Errorf("the retry answered without flushing %s (flushed: %v)", d, flushed)
		}
	}
}

// TestFlushPathFlushesEachDirectory: FlushPath (the /ws hub's check before it Acks a
// Create or Update of stored content) fsyncs the file's directory and each one above
// it, up to files/, and returns a failure of any of them.
func TestFlushPathFlushesEachDirectory(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	const p = "d1/d2/f.bin"
	if _, _, err := e.sp.Put(ctx, p, bytes.NewReader([]byte("x")), PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	files := e.filesDir()
	var mu sync.Mutex
	flushed := map[string]bool{}
	var fail error
	old := fsys.SetSyncHook(func(name string) error {
		if rel, err := filepath.Rel(files, name); err == nil && !strings.HasPrefix(rel, "..") {
			mu.Lock()
			defer mu.Unlock()
			flushed[filepath.ToSlash(rel)] = true
			return fail
		}
		return nil
	})
	defer func() { fsys.SetSyncHook(old) }()
	if err := e.sp.FlushPath(ctx, p); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, d := range []string{"d1/d2", "d1", "."} {
		if !flushed[d] {
			t.Errorf("FlushPath did not flush %s (flushed: %v)", d, flushed)
		}
	}
	fail = errors.New("injected fsync failure")
	mu.Unlock()
	if err := e.sp.FlushPath(ctx, p); err == nil {
		t.Fatal("FlushPath succeeded although the directory fsyncs failed")
	}
	if err := e.sp.FlushPath(ctx, "../x"); err == nil {
		t.Fatal("FlushPath of a path outside the tenant succeeded")
	}
}
