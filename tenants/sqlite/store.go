package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"

	"github.com/syncspace/syncspace/tenants/index"
)

// Store is the tenants' tables in one database: their schema, the prepared statements
// of their queries, this process's write lock, the batching of concurrent write
// transactions of every tenant (txbatch.go) and the truncation of an oversized WAL.
type Store struct {
	db  *sql.DB
	wal string // the database's WAL file ("" if none)
	log *slog.Logger

	wmu   sync.Mutex // serializes this process's write transactions
	txb   txBatcher  // batches the spaces' write transactions
	stmts stmtCache  // prepared statements
	j     journal    // the journal's overlay (journal.go)

	reads      // the read side (read.go, view.go), promoted
	chunkLists // index.Chunks (chunks.go), promoted
}

// reads holds the Store's read methods (index.Reader, index.Viewer).
type reads struct{ *Store }

// NewStore creates the tenants' tables in db if needed and merges the rows an
// earlier process left in the journal (journal.go). logger nil means slog.Default().
// Close merges the journal and releases the statements; the caller closes db.
func NewStore(ctx context.Context, db *sql.DB, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := createSchema(ctx, db); err != nil {
		return nil, err
	}
	if err := MergeJournal(ctx, db); err != nil {
		return nil, err
	}
	s := &Store{db: db, log: logger, stmts: stmtCache{db: db}, j: journal{gen: newGen()}}
	s.reads = reads{s}
	s.chunkLists = chunkLists{s}
	s.wal = walFile(ctx, db)
	s.txb = txBatcher{db: db, wmu: &s.wmu, wal: s.wal, stmts: &s.stmts, log: logger, jb: jbatch{j: &s.j}}
	return s, nil
}

// DB returns the database.
func (r *Store) DB() *sql.DB { return r.db }

// batch runs fn in a write transaction shared with the other writes queued meanwhile
// (in a savepoint of its own if it changes data itself, else through the batch's
// stage: stage.go), on the batch connection (txbatch.go), and returns once that
// transaction committed (nil) or fn's changes were rolled back (fn's error, or the
// batch's). Only Write calls it: the batch connection checks no foreign keys, and
// Write is what makes sure the tenant exists.
func (r *Store) batch(ctx context.Context, o index.WriteOptions, fn func(j *jobTx) error) error {
	return r.txb.run(ctx, o, fn)
}

// Batches returns how many batch transactions have begun (for tests and profiling).
func (r *Store) Batches() int64 { return r.txb.batches.Load() }

// BatchStatements returns how many statements the batch transactions have run, BEGIN
// and COMMIT aside (for tests and profiling).
func (r *Store) BatchStatements() int64 { return r.txb.stmtsRun.Load() }

// LockWrites takes this process's write lock, for a write outside Batch; the caller
// calls unlock when done.
func (r *Store) LockWrites() (unlock func()) {
	r.wmu.Lock()
	return r.wmu.Unlock
}

// Close gives back the connection the batches ran on, merges the journal (a failure
// is logged: the next NewStore merges it) and closes the prepared statements; later
// queries run unprepared, and later batches on any connection.
func (r *Store) Close() {
	r.txb.close()
	if unlock, err := r.lockMerged(context.Background()); err != nil {
		r.log.Warn("closing: the journal was not merged", "err", err)
	} else {
		unlock()
	}
	r.stmts.close()
}
