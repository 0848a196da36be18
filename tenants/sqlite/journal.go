package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// The journal.
//
// A batch of many tenants' plain writes (the stage's rows: stage.go) used to insert
// each tenant's change-log row and entry into that tenant's own leaf pages of
// tenant_changes, tenant_entries and its indexes (every key begins with the tenant):
// a batch over k tenants dirtied about k leaves of each tree, where one tenant's batch
// dirtied one (docs/BENCHMARKS.md, "Commits: session 22"). The stage now appends those
// rows to two rowid tables, tenant_journal_changes and tenant_journal_entries, in the
// batch's order, so a batch writes the last page or two of each whatever its tenants;
// once they hold mergeRows rows, a batch moves them into the tenants' trees by two
// set-based statements in key order (many rows a leaf) and empties them (merge).
//
// The journal's rows are committed in the batch's transaction, like the rows they
// stand for (synchronous=FULL: on disk before the write's answer), and the tenant's
// head row is updated as before, so heads, recovery and the change log's gap-free
// order are unchanged. NewStore merges whatever an earlier process left (a crash
// loses nothing) and Close merges what this one leaves.
//
// Reads see the journal through an in-memory copy of its rows (the overlay, jgen),
// kept by the batches: a row is added when the stage writes it (pending), and is
// seen by a read only once its write committed: a read that reads the head row takes
// the rows up to that head (its snapshot's), any other read up to the head its
// tenant's last committed batch left (jten.committed). The tables a read queries
// (tenant_entries, tenant_changes) change only when a batch merges, and then the
// overlay is replaced by an empty one (a new jgen) under journal.mu, held across that
// batch's COMMIT: a read pins the current jgen with its SQL (journal.pin), so the two
// are always of one state. Another process's Store (syncctl --data beside syncd)
// merges the journal at open under this one's overlay; the reads' rules (an
// overlay row wins its fold key, the overlay's change-log rows follow the table's
// last one) absorb the rows then in both: TestJournalSecondStore.
//
// A write that runs statements of its own (a delete, a move, a version, undo rows,
// an entry without an event) first merges the journal (jobTx.change), so its
// statements, and every statement on the tables outside the batches that reads or
// changes entries or the change log (lockMerged: SetHead, DeleteTenant,
// PruneChanges, the chunk lists' checks), see every row.

// mergeRows is how many journal rows (change-log rows and entries) make a batch
// merge the journal into the tenants' trees.
const mergeRows = 2048

const (
	changeCols = `tenant_id, seq, op, from_path, path, is_dir, size, hash, modified, source_client, source_subject, at, meta_seq`
	entryCols9 = `tenant_id, fold, path, parent, is_dir, size, hash, modified, seq`
	// changeWidth and entryWidth are the values a row of changeCols and of entryCols9.
	changeWidth, entryWidth = 13, 9
)

// Queued rows (rowbuf.go) of the journal: the stage's, OR FAIL like the others
// (no statement journal: TestStageStatementsCannotAbort).
var (
	journalChangeRows = newRowBuf(`INSERT OR FAIL INTO tenant_journal_changes (`+changeCols+`)`, changeWidth, "")
	journalEntryRows  = newRowBuf(`INSERT OR FAIL INTO tenant_journal_entries (`+entryCols9+`)`, entryWidth, "")
)

// mergeSQL moves the journal's rows into the tenants' trees, in key order, the later
// row of a fold key winning (rowid order), and empties the journal. Rows of a tenant
// deleted meanwhile (by another process) are dropped.
var mergeSQL = []string{
	`INSERT INTO tenant_changes (` + changeCols + `) SELECT ` + changeCols + ` FROM tenant_journal_changes
		WHERE tenant_id IN (SELECT id FROM tenants) ORDER BY tenant_id, seq`,
	`INSERT INTO tenant_entries (` + entryCols9 + `) SELECT ` + entryCols9 + ` FROM tenant_journal_entries
		WHERE tenant_id IN (SELECT id FROM tenants) ORDER BY tenant_id, fold, rowid
		ON CONFLICT (tenant_id, fold) DO UPDATE SET path = excluded.path, parent = excluded.parent, is_dir = excluded.is_dir,
			size = excluded.size, hash = excluded.hash, modified = excluded.modified, seq = excluded.seq`,
	`DELETE FROM tenant_journal_changes`,
	`DELETE FROM tenant_journal_entries`,
}

// execer runs statements (a Q or a *sql.Tx).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// merge runs mergeSQL through q.
func merge(ctx context.Context, q execer) error {
	for _, m := range mergeSQL {
		if _, err := q.ExecContext(ctx, m); err != nil {
			return fmt.Errorf("sqlite: merge the journal: %w", err)
		}
	}
	return nil
}

// MergeJournal moves the rows an earlier process left in the journal into the
// tenants' tables, in one transaction; a database without the journal tables (made
// before them) has nothing to merge. NewStore does it; a program that reads the
// tables of a data dir without a Store (cluster import) calls it first.
func MergeJournal(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tenant_journal_changes'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	if err := merge(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// journal is the Store's view of the journal tables.
type journal struct {
	// mu is held (R) by a read while it runs its SQL against gen (pin), and (W) by a
	// commit that merged, across its COMMIT and the switch to the next gen.
	mu  sync.RWMutex
	gen *jgen
	// rows counts the committed rows of the journal tables; only the holder of the
	// Store's write lock uses it.
	rows int
}

// pin runs fn with the current overlay, which no merge replaces before fn returns:
// fn's SQL and the overlay are of one state.
func (j *journal) pin(fn func(g *jgen) error) (*jgen, error) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.gen, fn(j.gen)
}

// current returns the current overlay.
func (j *journal) current() *jgen {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.gen
}

// lockMerged takes the Store's write lock and merges the journal first (if it holds
// rows), for a statement outside the batches that reads or changes entries or the
// change log. The caller calls unlock when done.
func (r *Store) lockMerged(ctx context.Context) (unlock func(), err error) {
	r.wmu.Lock()
	if r.j.rows > 0 {
		if err := r.mergeNow(ctx); err != nil {
			r.wmu.Unlock()
			return nil, err
		}
	}
	return r.wmu.Unlock, nil
}

// mergeNow merges the journal in a transaction of its own. The caller holds wmu.
func (r *Store) mergeNow(ctx context.Context) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := merge(ctx, tx); err != nil {
		return err
	}
	return r.j.commitMerged(tx.Commit, newGen())
}

// commitMerged runs commit (of a transaction that merged the journal) and, if it
// succeeds, makes next the overlay, with no read in between. The caller holds wmu.
func (j *journal) commitMerged(commit func() error, next *jgen) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := commit(); err != nil {
		return err
	}
	j.gen, j.rows = next, 0
	return nil
}

// jbatch is a batch's part in the journal (the leader's, under wmu).
type jbatch struct {
	j       *journal
	mergeAt int              // rows that make a batch merge (0: mergeRows; tests set fewer)
	always  bool             // tests: one tenant's rows go to the journal too
	gen     *jgen            // where the batch's rows go: j.gen, or next
	next    *jgen            // the overlay after the batch's last merge (nil: it did not merge)
	rows    int              // the journal's rows once the batch commits
	early   map[string]int64 // tenant → highest seq of the batch's rows added to j.gen
	// lastSolo is the tenant whose writes alone made the last batch's stage ("":
	// none), kept from one batch to the next.
	lastSolo string
	late     map[string]int64 // likewise, of its rows added to next
}

// reset readies b for a new batch.
func (b *jbatch) reset() {
	if b.j == nil { // a batcher of its own (tests)
		b.j = &journal{gen: newGen()}
	}
	if b.early == nil {
		b.early, b.late = map[string]int64{}, map[string]int64{}
	}
	b.gen, b.next, b.rows = b.j.gen, nil, b.j.rows
	clear(b.early)
	clear(b.late)
}

// added records the rows a flush of the stage wrote to the journal tables: they go
// to the overlay, pending.
func (b *jbatch) added(changes, entries []any, hseqs []int64) {
	heads := b.early
	if b.next != nil {
		heads = b.late
	}
	b.gen.add(changes, entries, hseqs, heads)
	b.rows += len(changes)/changeWidth + len(entries)/entryWidth
}

// merge merges the journal inside the batch's transaction q: the rows added so far
// go with it, later ones to a new overlay, next.
func (b *jbatch) merge(ctx context.Context, q execer) error {
	if err := merge(ctx, q); err != nil {
		return err
	}
	b.next, b.rows = newGen(), 0
	b.gen = b.next
	clear(b.late)
	return nil
}

// direct reports whether the stage's rows (hs: its head updates) go straight to
// the tenants' trees rather than to the journal: those of a batch of one tenant
// (final: the stage's last flush, holding every plain write of the batch) do, since
// they share that tenant's leaves, unless the journal holds rows of the tenant,
// whose overlay would hide them. Then the batch merges the journal first if the
// tenant's previous batch was its alone too (a tenant writing alone), else its rows
// go to the journal: a tenant of a batch of many tenants that has a batch of its own
// now and then does not make the journal merge each time.
func (b *jbatch) direct(ctx context.Context, q execer, final bool, hs []stagedHead) (bool, error) {
	solo := ""
	if final && len(hs) == 1 && !b.always {
		solo = hs[0].id
	}
	last := b.lastSolo
	if final {
		b.lastSolo = solo
	}
	if solo == "" {
		return false, nil
	}
	b.gen.mu.RLock()
	held := b.gen.t[solo] != nil
	b.gen.mu.RUnlock()
	if !held {
		return true, nil
	}
	if last != solo {
		return false, nil
	}
	return true, b.merge(ctx, q)
}

// full reports whether the journal holds enough rows to merge.
func (b *jbatch) full() bool {
	if b.mergeAt > 0 {
		return b.rows >= b.mergeAt
	}
	return b.rows >= mergeRows
}

// commit runs the batch's COMMIT (commit) and settles the overlay: after a merge,
// next replaces it (with no read in between); the batch's rows are then committed.
// If commit fails, the batch's rows are dropped.
func (b *jbatch) commit(commit func() error) error {
	var err error
	if b.next != nil {
		err = b.j.commitMerged(commit, b.next)
	} else {
		err = commit()
	}
	if err != nil {
		b.abort()
		return err
	}
	b.j.rows = b.rows
	if b.next != nil {
		b.next.commit(b.late)
	} else {
		b.gen.commit(b.early)
	}
	return nil
}

// abort drops the rows of a batch that does not commit.
func (b *jbatch) abort() {
	if b.j.gen != nil {
		b.j.gen.drop(b.early)
	}
	b.next = nil
}
