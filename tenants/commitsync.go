package tenants

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/syncspace/syncspace/tenants/blob"
)

// The directory fsyncs of a group commit's batch, run beside its SQL transaction.

// queueSync queues the fsync of every directory the batch changed (and of versions/
// if it kept a version) where the store can queue them (blob.BatchQueue), and
// returns the function that waits for them (and runs the test fault of the "sync"
// stage). Run by the index's batch leader (index.WriteOptions.Alongside), one batch
// after another, it lets the directory flushes of every tenant sharing a transaction
// share one flush. A panic of either step becomes the error the second returns: the
// first runs on the index's goroutine, the second on its own, beside the SQL commit.
func (b *batch) queueSync() (wait func() error) {
	waits, err := b.queueSyncSafely()
	return func() (err2 error) {
		defer func() {
			if p := recover(); p != nil {
				err2 = internal("sync directory", fmt.Errorf("panic: %v", p))
			}
		}()
		if err != nil {
			// Waits already queued still run: a queued flush that leads a round
			// must be waited for.
			for _, w := range waits {
				_ = w.do()
			}
			return err
		}
		if err := b.syncTargets(waits); err != nil {
			return err
		}
		if batchFault != nil {
			if ferr := batchFault("sync"); ferr != nil {
				return internal("sync directory", ferr)
			}
		}
		return nil
	}
}

// syncTarget is one directory flush of a batch: what it is (for its error) and the
// function that does it, or that waits for it once queued.
type syncTarget struct {
	what string
	do   func() error
}

// queueSyncSafely lists the batch's directory flushes, queued where the store can
// queue them, turning a panic into an error (with the flushes queued so far).
func (b *batch) queueSyncSafely() (ts []syncTarget, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = internal("sync directory", fmt.Errorf("panic: %v", p))
		}
	}()
	dirs := make([]string, 0, len(b.dirs))
	for d := range b.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	if q, ok := b.blobs.(blob.BatchQueue); ok {
		for _, d := range dirs {
			ts = append(ts, syncTarget{"sync directory", q.QueueSyncDir(d)})
		}
		if b.versions {
			ts = append(ts, syncTarget{"sync versions", q.QueueSyncVersions()})
		}
		return ts, nil
	}
	for _, d := range dirs {
		ts = append(ts, syncTarget{"sync directory", func() error { return b.blobs.SyncDir(d) }})
	}
	if b.versions {
		ts = append(ts, syncTarget{"sync versions", b.blobs.SyncVersions})
	}
	return ts, nil
}

// syncTargets runs ts concurrently: queued ones wait for flushes already requested
// (a Flusher serves those queued together in one round, in any order of the waits
// from goroutines of their own), and plain ones, or queued ones that a Flusher could
// not merge (none on this platform, or a syncfs failed: each is then its own fsync),
// overlap (a journaling file system can serve them with one journal commit).
func (b *batch) syncTargets(ts []syncTarget) error {
	if len(ts) == 1 {
		if err := ts[0].do(); err != nil {
			return diskErr(ts[0].what, err)
		}
		return nil
	}
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() {
			if err := t.do(); err != nil {
				errs[i] = diskErr(t.what, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
