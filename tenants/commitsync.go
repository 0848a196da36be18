package tenants

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/index"
)

// The directory fsyncs of a group commit's batch, run beside its SQL transaction.

// commitDone fsyncs the directories of the batch's applied members and commits them
// and, if it committed, publishes them. It returns the error of the directory
// fsyncs, which fails the members even if the commit succeeded.
func (s *committer) commitDone(b *batch) (serr error) {
	// The directory fsyncs and the SQL commit are independent: run them at the
	// same time, so an upload waits for two fsyncs in a row (its temp file, then
	// the slower of these), not three. Nothing is answered or published before both
	// are done.
	//
	// The index queues the flush (index.WriteOptions.Alongside: queueSync) when it
	// begins the transaction: with many tenants it shares one transaction between
	// several tenants' batches, whose directory flushes, all queued before the
	// first is waited for, then share one flush too (fsys.Flusher.Queue) instead
	// of a round each.
	along, synced := b.alongside()
	w, err := s.cm.commitApplied(b, along)
	serr = synced()
	if err != nil && len(b.done) > 1 && errors.Is(err, index.ErrStale) {
		// Another node changed what one member relied on (commitsplit.go).
		b.commitEach(serr)
		return serr
	}
	if err != nil {
		// Nothing committed: put the disk back as it was.
		s.cm.undoBatch(b, err)
		return serr
	}
	b.committed(w, serr)
	return serr
}

// committed finishes b's committed transaction w: the disk marks, the reservations
// it released, publishing, and the members' answers if the directory fsyncs failed
// (serr).
func (b *batch) committed(w *wtx, serr error) {
	s := b.s.cm
	var changed []string
	for _, a := range b.done {
		changed = append(append(changed, a.created...), a.r.p)
	}
	s.rc.markOwn(batchMarker(b.blobs, s.rc.statMark), changed...)
	for _, a := range b.done {
		a.r.u.shared = "" // released by the commit
	}
	s.cm.publish(w)
	if serr != nil {
		// Committed and in place, but not known to be durable on disk: no
		// member gets a 2xx (a retry is an identical PUT, which flushes the
		// directories again: sameAsIndexed), and start-up recovery reconciles index
		// and disk if the machine goes down now.
		s.log.Error("directory fsync failed after commit", "err", serr, "members", len(b.done))
		for _, a := range b.done {
			a.r.meta, a.r.created, a.r.err = protocol.Metadata{}, false, serr
		}
	}
}

// alongside returns the batch's index.WriteOptions.Alongside (queueSync, then the
// wait for its flushes) and the function that returns the flushes' result once the
// index's Write has returned. If the first step did not return (it panicked: an index
// sharing transactions then runs a do-nothing rest in place of this one), that result
// is an error at once, not a wait for a rest that never runs.
func (b *batch) alongside() (along func() func(), synced func() error) {
	done := make(chan error, 1)
	var queued atomic.Bool
	along = func() func() {
		if batchFault != nil {
			_ = batchFault("queue")
		}
		wait := b.queueSync()
		queued.Store(true)
		return func() { done <- wait() }
	}
	synced = func() error {
		if !queued.Load() {
			return internal("sync directory", errors.New("the directory flushes were not queued"))
		}
		return <-done
	}
	return along, synced
}

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

// sameAsIndexed records a member whose content the index already holds, from an
// earlier batch: nothing changes, but that batch may have failed its directory fsyncs
// (or panicked) after its commit, so the directories of the path, up to files/, are
// flushed again before the member is answered (answerUnchanged): its 2xx holds what
// any 2xx promises (SPEC §3).
func (b *batch) sameAsIndexed(r *putReq, cur *entry) {
	r.meta = cur.Meta()
	for _, d := range dirsAbove(r.p) {
		b.dirs[d] = struct{}{}
	}
	b.unchanged = append(b.unchanged, r)
}

// dirsAbove returns the directories holding p, from its parent up to the root ("").
func dirsAbove(p string) []string {
	var dirs []string
	for d := p; d != ""; {
		d = pathrule.Parent(d)
		dirs = append(dirs, d)
	}
	return dirs
}

// answerUnchanged fails the members sameAsIndexed recorded if the batch's directory
// fsyncs failed (serr).
func (b *batch) answerUnchanged(serr error) {
	if serr == nil {
		return
	}
	for _, r := range b.unchanged {
		r.meta, r.err = protocol.Metadata{}, serr
	}
}
