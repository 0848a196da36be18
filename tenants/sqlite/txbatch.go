package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/syncspace/syncspace/sync/fsys"
)

// txBatcher runs the SQL parts of concurrent space writes, of any tenants, in shared
// transactions: one durable commit (one WAL fsync) serves every write queued while
// the previous commit was in progress. This is the registry-wide half of the group
// commit; the per-tenant half (tenants/commit.go) batches the uploads of one tenant.
//
// Each job runs inside its own SAVEPOINT, so a job that fails (or panics) is rolled
// back alone and the others still commit. A failed COMMIT fails every job of the
// batch. Jobs of one tenant never share a batch out of order: a space's writes are
// serialised by its commit section, and each waits for its own result.
type txBatcher struct {
	db  *sql.DB
	wmu *sync.Mutex // the Store's write lock: the leader holds it while it commits
	wal string      // the WAL's file name, for sync/fsys's flush accounting ("": none)

	mu      sync.Mutex
	pending []*txJob
	leading bool // a job's goroutine is committing (or about to commit) a batch

	batches atomic.Int64 // transactions begun, for tests and profiling
}

// txJob is one write waiting for a batch.
type txJob struct {
	fn   func(tx *sql.Tx) error
	err  error
	wake chan bool // true: lead the next batch; false: done (err set)
}

// run queues fn and returns once a batch holding it has committed (nil) or fn's
// changes were rolled back (its error, or the batch's commit error).
//
// The first job to find no leader leads: it takes the write lock and commits every
// job queued so far, its own included, then hands the lead to the first job queued
// meanwhile and wakes the others with their results. A job committed by another's
// batch returns at once, without waiting for the write lock (which the next batch,
// and its WAL flush, may be holding).
func (b *txBatcher) run(ctx context.Context, fn func(tx *sql.Tx) error) error {
	j := &txJob{fn: fn, wake: make(chan bool, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, j)
	if b.leading {
		b.mu.Unlock()
		if lead := <-j.wake; !lead {
			return j.err
		}
		// Promoted: j is at the head of the queue.
	} else {
		b.leading = true
		b.mu.Unlock()
	}
	b.wmu.Lock()
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()
	b.commit(ctx, batch)
	b.wmu.Unlock()

	b.mu.Lock()
	var next *txJob
	if len(b.pending) > 0 {
		next = b.pending[0]
	} else {
		b.leading = false
	}
	b.mu.Unlock()
	for _, m := range batch {
		if m != j {
			m.wake <- false
		}
	}
	if next != nil {
		next.wake <- true
	}
	return j.err
}

// commit runs batch in one transaction. The caller holds wmu.
func (b *txBatcher) commit(ctx context.Context, batch []*txJob) {
	ctx = context.WithoutCancel(ctx)
	finish := func(err error) {
		for _, j := range batch {
			if j.err == nil {
				j.err = err
			}
		}
	}
	b.batches.Add(1)
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		finish(err)
		return
	}
	ok := 0
	for _, j := range batch {
		if len(batch) == 1 {
			if j.err = runJob(j.fn, tx); j.err != nil {
				tx.Rollback()
				finish(nil)
				return
			}
			ok++
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			tx.Rollback()
			finish(err)
			return
		}
		if j.err = runJob(j.fn, tx); j.err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
				tx.Rollback()
				finish(err)
				return
			}
		} else {
			ok++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil {
			tx.Rollback()
			finish(err)
			return
		}
	}
	if ok == 0 {
		tx.Rollback()
		finish(nil)
		return
	}
	err = tx.Commit()
	if err == nil && b.wal != "" {
		// synchronous=FULL: the commit flushed the WAL. Counted (and slowed down on a
		// simulated slow disk) like the file store's fsyncs.
		fsys.Flushed(b.wal)
	}
	finish(err)
}

// runJob runs fn, turning a panic into its error.
func runJob(fn func(tx *sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("commit: panic: %v", p)
		}
	}()
	return fn(tx)
}
