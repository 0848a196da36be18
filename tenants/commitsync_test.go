package tenants

import (
	"os"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/blob"
)

// plainQueueBatch is a blob.Batch whose queued syncs are plain fsyncs: a nil
// Flusher's (no syncfs on the platform), as after a failed syncfs (noMerge).
type plainQueueBatch struct {
	blob.Batch
	f *os.File
}

func (b plainQueueBatch) QueueSyncDir(string) func() error {
	var fl *fsys.Flusher
	return fl.Queue(b.f).Wait
}

func (b plainQueueBatch) QueueSyncVersions() func() error {
	var fl *fsys.Flusher
	return fl.Queue(b.f).Wait
}

// TestUnmergedDirSyncsConcurrent: a batch's directory fsyncs that no Flusher merges
// still overlap instead of running one after another.
func TestUnmergedDirSyncsConcurrent(t *testing.T) {
	f, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := fsys.SetSyncHook(func(string) error { time.Sleep(time.Second); return nil }) // a slow fsync, not serialised
	defer func() { fsys.SetSyncHook(old) }()
	b := &batch{dirs: map[string]struct{}{"a": {}, "b": {}, "c": {}}, versions: true, blobs: plainQueueBatch{f: f}}
	start := time.Now()
	if err := b.queueSync()(); err != nil {
		t.Fatal(err)
	}
	// One after another they take 4 s; overlapping, 1 s and what a loaded machine adds.
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("4 unmerged directory fsyncs of 1 s took %v: one after another", d)
	}
}
