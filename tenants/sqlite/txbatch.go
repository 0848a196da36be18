package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
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
	wmu *sync.Mutex // the Store's write lock: whoever holds it commits the queue

	mu      sync.Mutex
	pending []*txJob

	batches atomic.Int64 // transactions begun, for tests and profiling
}

// txJob is one write waiting for a batch.
type txJob struct {
	fn   func(tx *sql.Tx) error
	err  error
	done chan struct{}
}

// run queues fn and returns once a batch holding it has committed (nil) or fn's
// changes were rolled back (its error, or the batch's commit error).
func (b *txBatcher) run(ctx context.Context, fn func(tx *sql.Tx) error) error {
	j := &txJob{fn: fn, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, j)
	b.mu.Unlock()
	// Whoever takes the write lock commits everything queued so far, this job
	// included unless an earlier holder already did.
	b.wmu.Lock()
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()
	if len(batch) > 0 {
		b.commit(ctx, batch)
	}
	b.wmu.Unlock()
	<-j.done
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
			close(j.done)
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
	finish(tx.Commit())
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
