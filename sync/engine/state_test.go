package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestSaveStateWritesAfterSyncAll: the state file (whose base vouches for downloaded
// files) appears only after the file system flush has returned, although the state is
// encoded while the flush runs.
func TestSaveStateWritesAfterSyncAll(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	release := make(chan struct{})
	entered := make(chan struct{})
	returned := make(chan error, 1)
	p := &persisted{Epoch: "e", Seq: 7, Base: map[string]baseEntry{"a": {Path: "a", Hash: "h"}}, Local: map[string]localEntry{}}
	go func() {
		returned <- saveState(dir, p, func() error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	time.Sleep(50 * time.Millisecond) // time enough to write, were it not waiting
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("state file written before the flush returned (stat: %v)", err)
	}
	select {
	case err := <-returned:
		t.Fatalf("saveState returned before the flush did: %v", err)
	default:
	}
	close(release)
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	st, err := loadState(dir)
	if err != nil || st.Seq != 7 || st.Base["a"].Hash != "h" {
		t.Fatalf("saved state: %+v, %v", st, err)
	}
}

// TestUnpackerFlushesInBackground: an archive of many files starts a flush of the
// file system every archiveFlushEvery files, never two at once, and wait returns only
// once the last one has.
func TestUnpackerFlushesInBackground(t *testing.T) {
	var running, most, calls atomic.Int32
	u := &unpacker{done: map[*action]bool{}, jobs: make(chan unpackJob)}
	u.flush = func() error {
		calls.Add(1)
		n := running.Add(1)
		if n > most.Load() {
			most.Store(n)
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		return nil
	}
	for range 3*archiveFlushEvery + 1 {
		u.written(&action{})
	}
	u.wait()
	if running.Load() != 0 {
		t.Fatal("a flush still runs after wait")
	}
	if c := calls.Load(); c < 1 || c > 3 {
		t.Fatalf("%d flushes for %d files", c, 3*archiveFlushEvery+1)
	}
	if most.Load() != 1 {
		t.Fatalf("%d flushes at once", most.Load())
	}
}
