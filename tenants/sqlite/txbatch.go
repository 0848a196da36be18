package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/index"
)

// txBatcher runs the SQL parts of concurrent space writes, of any tenants, in shared
// transactions: one durable commit (one WAL fsync) serves every write queued while
// the previous commit was in progress. This is the registry-wide half of the group
// commit; the per-tenant half (tenants/commit.go) batches the uploads of one tenant.
//
// A job that runs a statement of its own that changes data (a RemoveTree, a
// MoveTree, a version, undo rows) runs inside its own SAVEPOINT, opened just before
// that statement, so a job that fails (or panics) is rolled back alone and the others
// still commit. A job that only appends change-log rows and puts entries (a plain
// upload) runs no such statement: when it succeeds, its queued rows and its head
// row's update go to the batch's stage, which writes those of every such job of the
// batch by one multi-row statement per table (and one head UPDATE) before COMMIT; one
// that fails just drops its rows (stage.go). A failed COMMIT, or a failure of the
// stage's statements (a broken database, or a kept head row that is wrong), fails
// every job of the batch. A lone job runs without a savepoint. Jobs of one tenant
// never share a batch out of order: a space's writes are serialised by its commit
// section, and each waits for its own result.
//
// A write may bring work to run beside its transaction (index.WriteOptions.Alongside:
// the group commit's directory flush). The leader queues the Alongside work of all the
// jobs it takes (their flush requests), then starts it all at once, just before the
// transaction, and the next leader waits for that work to finish before it takes its
// batch. This is the batching rule for many
// tenants: each tenant's group commit then holds one upload or few, and without the
// wait a batch began as soon as the previous COMMIT ended, held two or three tenants'
// jobs and paid a WAL flush for them (0.31 flushes a PUT over 100 tenants against
// 0.06 for one tenant); with it, a batch's period is that of the slower of its two
// flushes, the writes queued during it share the next WAL flush, and their directory
// flushes, queued together, share one fsys.Flusher round (started one goroutine
// each without the queueing step, they took 8–9 rounds a batch of ~27 tenants:
// docs/BENCHMARKS.md, "Commits and small uploads: session 21"). One tenant's writes
// come one at a time (its commit section is held until its directory flush is done), so
// the wait changes nothing for them.
//
// Every batch runs on one connection kept for the purpose (conn), so that SQLite's
// page cache of that connection, which a commit by any other connection empties,
// still holds the pages the previous batches touched, and so that the tenants' head
// rows can be kept in memory between batches (heads): the connection's data version,
// read after each commit and again at the start of the next batch, tells whether
// any other connection (of this process or another) committed meanwhile, and then
// the kept heads are forgotten.
//
// The batch connection does not check foreign keys (batchPragmas): every job is a
// Write, which reads its tenant's head row (or keeps it from an earlier batch of the
// same connection, with no other connection's commit since) inside the transaction
// that holds the write lock, so the tenant of each row a job inserts exists until the
// batch commits, and the parent-key probe of every inserted entry and change-log row
// into the tenants table would only find it again. The connection is discarded, not
// given back to the pool, so no other statement ever runs without the checks (the
// tenants' ON DELETE CASCADE included).
//
// The batch transaction stays a sql.Tx. Running it as the connection's own BEGIN and
// COMMIT saves database/sql's per-transaction goroutine (Tx.awaitDone) and statement
// wrappers, but starting that goroutine is also what moves the group commit's
// directory-fsync goroutine (its Alongside work, which run starts just before the
// SQL) out of the runtime's runnext slot to the back of the run queue; without it the commit
// finished so early that one tenant's commits held 1–2 uploads instead of ~11 under
// a fan-out to 2,000 subscribers (a notice, and ~2,000 socket writes, per commit),
// which lost more than half its throughput (docs/BENCHMARKS.md, "Commit SQL:
// session 18"). Dropping sql.Tx needs a batching rule of the group commit's own first.
type txBatcher struct {
	db    *sql.DB
	wmu   *sync.Mutex  // the Store's write lock: the leader holds it while it commits
	wal   string       // the WAL's file name, for sync/fsys's flush accounting ("": none)
	stmts *stmtCache   // the Store's prepared statements
	log   *slog.Logger // nil: slog.Default()

	// The leader's state, used only while holding wmu.
	conn    *sql.Conn          // the connection batches run on (nil: take one from the pool)
	tx      *sql.Tx            // the batch's transaction while it is open
	closed  bool               // the Store is closed: batches run on the pool
	version uint32             // the data version after the last commit (dataVersion)
	heads   map[string]headRow // tenant id → its head row as conn's transaction sees it
	stage   stage              // the batch's staged rows (stage.go)
	jb      jbatch             // the batch's part in the journal (journal.go)
	fault   func(at string)    // tests: called at "stage", "commit" and "committed" (may panic)

	mu      sync.Mutex
	pending []*txJob
	leading bool // a job's goroutine is committing (or about to commit) a batch

	// along counts the running Alongside work of the last batch; only leaders use
	// it, one at a time.
	along sync.WaitGroup

	batches  atomic.Int64 // transactions begun, for tests and profiling
	stmtsRun atomic.Int64 // statements run in the batches' transactions (BEGIN and COMMIT aside), likewise
}

// batchCacheKiB is the page cache of the batch connection (SQLite's default is 2,000
// KiB, about 500 pages): the pages that the batches of many tenants keep writing
// (each tenant's last change-log page and its entry and index pages, and the inner
// pages above them) stay in it from one batch to the next instead of being read
// again from the WAL or the database file.
const batchCacheKiB = 8 << 10

// batchAutoCheckpoint is the batch connection's automatic checkpoint interval in WAL
// pages (SQLite's default is 1000; 3000 pages are ~12 MiB, below JournalSizeLimit
// and WALTruncateSize). A checkpoint copies each page once however many frames the
// WAL holds of it: with many tenants a batch writes a few pages per tenant, and a
// longer interval copies (and fsyncs) the same pages fewer times.
const batchAutoCheckpoint = 3000

// batchPragmas set up the batch connection when it is taken from the pool: its page
// cache, its checkpoint interval, no foreign-key checks (see txBatcher), and temporary
// files in memory. The last is for the journal of the jobs' savepoints and of the
// statements that may abort midway (the entries' upsert; the change-log insert and
// the head update no longer may: rowbuf.go): each page first changed under it is copied there, and SQLite spills it
// to a temporary file beyond 64 KiB (16 pages), a write() a page; in memory it never
// spills (docs/BENCHMARKS.md, "Commits: session 20"). Only the batches' statements
// run on this connection, so nothing else grows its temporary storage.
var batchPragmas = `PRAGMA cache_size = ` + strconv.Itoa(-batchCacheKiB) +
	`; PRAGMA wal_autocheckpoint = ` + strconv.Itoa(batchAutoCheckpoint) +
	`; PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY`

// headRow is a tenant's head row: its epoch and last seq.
type headRow struct {
	epoch string
	seq   int64
}

// txJob is one write waiting for a batch.
type txJob struct {
	fn     func(j *jobTx) error
	along  func() func() // index.WriteOptions.Alongside (nil: none)
	gather func()        // index.WriteOptions.Gather (nil: none)
	err    error
	wake   chan bool // true: lead the next batch; false: done (err set)
}

// run queues fn and returns once a batch holding it has committed (nil) or fn's
// changes were rolled back (its error, or the batch's commit error).
//
// The first job to find no leader leads: it takes the write lock and commits every
// job queued so far, its own included, then hands the lead to the first job queued
// meanwhile and wakes the others with their results. A job committed by another's
// batch returns at once, without waiting for the write lock (which the next batch,
// and its WAL flush, may be holding).
func (b *txBatcher) run(ctx context.Context, o index.WriteOptions, fn func(j *jobTx) error) error {
	j := &txJob{fn: fn, along: o.Alongside, gather: o.Gather, wake: make(chan bool, 1)}
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
	// The previous batch's Alongside work (its writes' directory flushes) first:
	// writes queued meanwhile join this batch (see txBatcher).
	b.along.Wait()
	// Then the writes about to arrive (index.WriteOptions.Gather).
	if j.gather != nil {
		j.gather()
	}
	b.wmu.Lock()
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()
	// Every job's Alongside work queued first, then all of it started: the jobs'
	// directory flushes are all queued before the first round of them is taken.
	var rests []func()
	for _, m := range batch {
		if m.along != nil {
			rests = append(rests, index.FirstStep(m.along))
		}
	}
	for _, rest := range rests {
		b.along.Go(rest)
	}
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

// commit runs batch in one transaction. The caller holds wmu. A panic outside the
// jobs' own code (runJob recovers theirs), in BEGIN, the stage's statements or COMMIT,
// fails every job of the batch (recoverCommit): the leader still releases the write
// lock and hands the lead over.
func (b *txBatcher) commit(ctx context.Context, batch []*txJob) {
	ctx = context.WithoutCancel(ctx)
	finish := func(err error) {
		for _, j := range batch {
			if j.err == nil {
				j.err = err
			}
		}
	}
	committed := false // COMMIT succeeded: a later panic must not fail the writes
	defer func() {
		if p := recover(); p != nil {
			b.recoverCommit(p, committed, finish)
		}
	}()
	b.batches.Add(1)
	tx, err := b.begin(ctx)
	if err != nil {
		finish(err)
		return
	}
	ok, err := b.runJobs(ctx, tx, batch)
	if err != nil || ok == 0 {
		// Nothing of the batch commits: neither do the heads its jobs left, nor its
		// rows in the overlay.
		b.jb.abort()
		tx.Rollback()
		b.tx, b.heads = nil, nil
		finish(err)
		return
	}
	b.faultAt("commit")
	err = b.jb.commit(tx.Commit)
	b.tx, committed = nil, err == nil
	if committed {
		b.faultAt("committed")
	}
	if err != nil {
		b.release()
	} else if b.conn != nil {
		// The commit moved the data version; what the next batch finds beyond this
		// value was committed by another connection.
		if v, verr := b.dataVersion(); verr != nil {
			b.heads = nil
		} else {
			b.version = v
		}
	}
	if err == nil && b.wal != "" {
		// synchronous=FULL: the commit flushed the WAL. Counted (and slowed down on a
		// simulated slow disk) like the file store's fsyncs.
		fsys.Flushed(b.wal)
	}
	finish(err)
}

// runJobs runs the batch's jobs in tx, then writes what they left to the batch's
// stage, and returns how many jobs succeeded. A job opens a savepoint of its own
// only before a statement of its own that changes data (never when it is alone);
// see stage.go. An error means tx cannot commit.
func (b *txBatcher) runJobs(ctx context.Context, tx *sql.Tx, batch []*txJob) (ok int, err error) {
	b.stage.reset()
	b.jb.reset()
	b.stage.jb = &b.jb
	q := Q{c: b.stmts, tx: tx, n: &b.stmtsRun}
	for _, j := range batch {
		jt := &jobTx{ctx: ctx, b: b, tx: tx, q: q, st: &b.stage, alone: len(batch) == 1}
		j.err = runJob(j.fn, jt)
		if b.stage.err != nil {
			return 0, b.stage.err
		}
		if err := jt.end(j.err); err != nil {
			return 0, err
		}
		if j.err == nil {
			ok++
		}
	}
	if ok == 0 {
		return 0, nil
	}
	b.faultAt("stage")
	b.stage.final = true
	if err := b.stage.flush(ctx, q); err != nil {
		return 0, err
	}
	if b.jb.full() {
		return ok, b.jb.merge(ctx, q)
	}
	return ok, nil
}

// recoverCommit ends a batch whose commit panicked (p): every job of it that has no
// error of its own gets the panic as its error, the open transaction is rolled back,
// and the batch connection (which the panic may have left in any state) is discarded
// with the kept heads. A panic after its COMMIT succeeded (committed) fails no job:
// the writes are in the database, and their callers must not undo them on disk. The
// caller holds wmu.
func (b *txBatcher) recoverCommit(p any, committed bool, finish func(error)) {
	log := b.log
	if log == nil {
		log = slog.Default()
	}
	msg, err := "sqlite: a batch commit panicked: its writes fail", fmt.Errorf("commit: panic: %v", p)
	if committed {
		msg, err = "sqlite: a batch panicked after its commit: its writes stand", nil
	}
	log.Error(msg, "panic", p, "stack", string(debug.Stack()))
	if !committed {
		b.jb.abort()
	}
	if b.tx != nil {
		b.tx.Rollback()
		b.tx = nil
	}
	if c := b.conn; c != nil {
		// Closing it waits for a transaction the panic left open in database/sql
		// (one whose COMMIT panicked): never with the write lock held.
		go discard(c)
		b.conn = nil
	}
	b.heads = nil
	finish(err)
}

// faultAt calls the test fault hook, if any, at the point at.
func (b *txBatcher) faultAt(at string) {
	if b.fault != nil {
		b.fault(at)
	}
}

// begin begins a batch's transaction on the batch connection, and forgets the kept
// heads if another connection committed since the last batch. The caller holds wmu.
func (b *txBatcher) begin(ctx context.Context) (*sql.Tx, error) {
	if b.closed {
		b.heads = nil
		tx, err := b.db.BeginTx(ctx, nil)
		b.tx = tx
		return tx, err
	}
	if b.conn == nil {
		c, err := b.db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := c.ExecContext(ctx, batchPragmas); err != nil {
			discard(c)
			return nil, err
		}
		b.conn, b.heads = c, nil
	}
	tx, err := b.conn.BeginTx(ctx, nil)
	if err != nil {
		b.release()
		return nil, err
	}
	b.tx = tx
	v, err := b.dataVersion()
	switch {
	case err != nil:
		b.heads = nil // none kept in this batch
	case v != b.version || b.heads == nil:
		b.version, b.heads = v, map[string]headRow{}
	}
	return tx, nil
}

// dataVersion returns the data version of the batch connection's database file
// (SQLITE_FCNTL_DATA_VERSION): it moves with each commit of the connection, and when
// a transaction of the connection begins after another connection (of this process
// or another) committed. Reading it runs no statement. The caller holds wmu.
func (b *txBatcher) dataVersion() (uint32, error) {
	var v uint32
	err := b.conn.Raw(func(dc any) error {
		fc, ok := dc.(interface {
			FileControlDataVersion(dbName string) (uint32, error)
		})
		if !ok {
			return errors.New("sqlite: the driver does not report the data version")
		}
		var err error
		v, err = fc.FileControlDataVersion("main")
		return err
	})
	return v, err
}

// release closes the batch connection and forgets the kept heads (after an error
// that may have left either in doubt, and when the Store closes). The caller holds
// wmu.
func (b *txBatcher) release() {
	if b.conn != nil {
		discard(b.conn)
		b.conn = nil
	}
	b.heads = nil
}

// discard closes c's driver connection instead of giving it back to the pool: the
// batch connection's pragmas (batchPragmas) are its own.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	c.Close()
}

// close releases the batch connection for good: later batches run on the pool.
func (b *txBatcher) close() {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.closed = true
	b.release()
}

// cachedHead returns the kept head row of tenant id, if any. Only a job (running on
// the leader, under wmu) calls it.
func (b *txBatcher) cachedHead(id string) (headRow, bool) {
	h, ok := b.heads[id]
	return h, ok
}

// keepHead records h as tenant id's head row in the batch's transaction: a job calls
// it as its last step. If the job's changes are then rolled back, so is everything
// kept (see commit).
func (b *txBatcher) keepHead(id string, h headRow) {
	if b.heads != nil {
		b.heads[id] = h
	}
}

// forgetHead drops the kept head row of tenant id (a job of the tenant failed).
func (b *txBatcher) forgetHead(id string) { delete(b.heads, id) }

// runJob runs fn, turning a panic into its error.
func runJob(fn func(j *jobTx) error, j *jobTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("commit: panic: %v", p)
		}
	}()
	return fn(j)
}
