package fsys

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// flushFiles creates n files in a temp dir, open for writing.
func flushFiles(t *testing.T, n int) (string, []*os.File) {
	t.Helper()
	dir := t.TempDir()
	fs := make([]*os.File, n)
	for i := range fs {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if _, err := f.WriteString("data"); err != nil {
			t.Fatal(err)
		}
		fs[i] = f
	}
	return dir, fs
}

// newTestFlusher returns a Flusher over a temp dir holding n files open for writing
// (flushFiles); it skips the test where there is no syncfs.
func newTestFlusher(t *testing.T, n int) (*Flusher, []*os.File) {
	t.Helper()
	if !canSyncFS() {
		t.Skip("no syncfs here: a Flusher is plain Sync")
	}
	dir, fs := flushFiles(t, n)
	fl, err := NewFlusher(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Close() })
	return fl, fs
}

// countSyncHooks counts the sync hook's calls per file name until the test ends, and
// fails the files whose name ends in failSuffix (if not "") with fault.
func countSyncHooks(t *testing.T, failSuffix string, fault error) (hooked func(name string) int) {
	var mu sync.Mutex
	calls := map[string]int{}
	old := SetSyncHook(func(name string) error {
		mu.Lock()
		calls[name]++
		mu.Unlock()
		if failSuffix != "" && strings.HasSuffix(name, failSuffix) {
			return fault
		}
		return nil
	})
	t.Cleanup(func() { SetSyncHook(old) })
	return func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[name]
	}
}

// syncAll syncs every file concurrently through fl and returns each one's error.
func syncAll(fl *Flusher, fs []*os.File) []error {
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Go(func() { errs[i] = fl.Sync(f) })
	}
	wg.Wait()
	return errs
}

// TestFlusherMerges: concurrent requests queued behind a slow flush share the next
// one; each caller returns only after a flush that started after its request.
func TestFlusherMerges(t *testing.T) {
	fl, fs := newTestFlusher(t, 16)
	defer SetSyncDelay(SetSyncDelay(20 * time.Millisecond))
	hooked := countSyncHooks(t, "", nil)
	before := SyncCount()
	for i, err := range syncAll(fl, fs) {
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	if n := SyncCount() - before; n >= int64(len(fs)) {
		t.Errorf("%d flushes for %d concurrent files: nothing merged", n, len(fs))
	}
	if fl.Merged() == 0 {
		t.Error("no merged flush")
	}
	for _, f := range fs {
		if hooked(f.Name()) != 1 {
			t.Errorf("%s: hook called %d times, want 1", f.Name(), hooked(f.Name()))
		}
	}
}

// TestFlusherFaults: a hook's error fails only its own file, even in a merged flush;
// a failing syncfs makes every file of its round fall back to its own fsync, and the
// Flusher stops merging.
func TestFlusherFaults(t *testing.T) {
	fl, fs := newTestFlusher(t, 8)
	defer SetSyncDelay(SetSyncDelay(10 * time.Millisecond))
	fault := errors.New("injected")
	defer restoreSyncHook(SetSyncHook(func(name string) error {
		if strings.HasSuffix(name, "f3") {
			return fault
		}
		return nil
	}))
	for i, err := range syncAll(fl, fs) {
		if (i == 3) != errors.Is(err, fault) {
			t.Errorf("file %d: err %v", i, err)
		}
	}

	orig := syncFS
	defer func() { syncFS = orig }()
	calls := 0
	syncFS = func(*os.File) error { calls++; return errors.New("syncfs failed") }
	for i, err := range syncAll(fl, fs) {
		if (i == 3) != errors.Is(err, fault) {
			t.Errorf("after a syncfs failure, file %d: err %v (want its own fsync's result)", i, err)
		}
	}
	if calls == 0 {
		t.Fatal("no merged round: the failing syncfs was not exercised")
	}
	if !fl.noMerge.Load() {
		t.Error("still merging after a failed syncfs")
	}
	calls = 0
	syncAll(fl, fs)
	if calls != 0 {
		t.Errorf("syncfs called %d times after a failure", calls)
	}
}

// restoreSyncHook puts back the hook SetSyncHook returned (a defer of SetSyncHook
// itself would drop the function it returns).
func restoreSyncHook(old func(name string) error) { SetSyncHook(old) }

// TestFlusherQueue: files queued before any is waited for are served by one flush,
// whichever request's Wait comes first, waited for from goroutines of their own; a file
// queued behind a flush in progress is served by a round of its own after it; a
// hook's error fails only its own request.
func TestFlusherQueue(t *testing.T) {
	fl, fs := newTestFlusher(t, 12)
	fault := errors.New("injected")
	hooked := countSyncHooks(t, "f5", fault)

	rounds0, _, _ := FlushStats()
	qs := make([]*Flush, 8)
	for i := range qs {
		qs[i] = fl.Queue(fs[i])
	}
	// Waited for from several goroutines, the leader's last.
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	for i := len(qs) - 1; i >= 0; i-- {
		wg.Go(func() { errs[i] = qs[i].Wait() })
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 5) != errors.Is(err, fault) {
			t.Errorf("file %d: err %v", i, err)
		}
	}
	if rounds1, _, _ := FlushStats(); rounds1-rounds0 != 1 {
		t.Errorf("%d flush rounds for 8 files queued together, want 1", rounds1-rounds0)
	}
	for _, f := range fs[:8] {
		if hooked(f.Name()) != 1 {
			t.Errorf("%s: hook called %d times, want 1", f.Name(), hooked(f.Name()))
		}
	}

	// Queued while a flush is in progress: served by the next round, after it.
	defer SetSyncDelay(SetSyncDelay(30 * time.Millisecond))
	first := fl.Queue(fs[8])
	done := make(chan error, 1)
	go func() { done <- first.Wait() }()
	for {
		fl.mu.Lock()
		taken := len(fl.pending) == 0
		fl.mu.Unlock()
		if taken {
			break
		}
		time.Sleep(time.Millisecond)
	}
	later := []*Flush{fl.Queue(fs[9]), fl.Queue(fs[10]), fl.Queue(fs[11])}
	for i, q := range later {
		if err := q.Wait(); err != nil {
			t.Errorf("file %d: %v", 9+i, err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("file 8: %v", err)
	}
	if rounds2, _, _ := FlushStats(); rounds2-rounds0 != 3 {
		t.Errorf("%d rounds in all, want 3 (8 files, 1 in progress, 3 queued behind it)", rounds2-rounds0)
	}

	// A nil Flusher's Flush is plain Sync.
	var none *Flusher
	if err := none.Queue(fs[0]).Wait(); err != nil {
		t.Errorf("nil Flusher: %v", err)
	}
}
