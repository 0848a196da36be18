package pgindex

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.Writer = (*Store)(nil)

// Write implements index.Writer with one transaction on a connection of its own. It
// locks the tenant's head row first, so Tx.Head is the authority across nodes until
// the commit; fn's statements are queued, and sent in one pipeline with the head
// update and COMMIT.
//
// Unless Options.NoLimits, a transaction that grows the tenant's bytes past its quota
// or its entries past its limit (the tenant's, else Options.MaxEntries) is rolled back
// with the error the domain gives for the same case (protocol.CodeQuotaExceeded,
// protocol.CodeTooLarge): the head update checks the counters as the transaction left
// them, under the row lock, so that nodes racing for the last bytes never end over
// quota. A transaction that changed nothing is rolled back (no commit to wait for).
func (s *Store) Write(ctx context.Context, tenantID string, o index.WriteOptions, fn func(index.Tx) error) error {
	if o.Alongside != nil {
		// No shared batches here: it just runs beside the transaction.
		go index.FirstStep(o.Alongside)()
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	w := &writeTx{s: s, ctx: ctx, conn: conn, tid: tenantID, keepUndo: o.KeepUndo}
	committed := false
	defer func() {
		if !committed { // fn's error, a failed statement, or a panic
			w.rollback()
		}
	}()
	if err := w.begin(); err != nil {
		return err
	}
	if err := fn(w); err != nil {
		return err
	}
	if err := w.commit(); err != nil {
		return err
	}
	committed = true
	return nil
}

// writeTx is index.Tx on PostgreSQL. Statements whose results the caller does not
// need at once wait in b and go in one pipeline at the next flush.
type writeTx struct {
	s        *Store
	ctx      context.Context
	conn     *pgxpool.Conn
	tid      string
	keepUndo bool

	epoch string
	seq   int64
	base  int64 // head_seq when the transaction began

	// The head row as locked and the tenant's limits.
	used, entries       int64
	quota, maxEntries   int64
	usedDelta, entDelta int64 // what the statements read so far changed

	b       *pgx.Batch
	wrote   bool // a statement that changes rows was queued
	counted bool // a statement that changes the head's counters was queued
}

// begin starts the transaction and locks the head row, in one round trip.
func (w *writeTx) begin() error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// undo_until is read from the locked row as the lock leaves it (a lease taken
	// while this statement waited for the lock counts): index.UndoLeaser. The same
	// statement bounds the transaction's idle time, so that a stalled node does not
	// hold the head row for ever (Options.WriteIdleTimeout).
	var leased bool
	var idle string
	b.Queue(`SELECT h.epoch, h.head_seq, h.used_bytes, h.entries, t.quota, t.max_entries, h.undo_until > now(),
			set_config('idle_in_transaction_session_timeout', $2, true)
		FROM tenant_heads h JOIN tenants t ON t.id = h.tenant_id WHERE h.tenant_id = $1 FOR UPDATE OF h`,
		w.tid, strconv.FormatInt(w.s.opts.WriteIdleTimeout.Milliseconds(), 10)).QueryRow(func(r pgx.Row) error {
		err := r.Scan(&w.epoch, &w.seq, &w.used, &w.entries, &w.quota, &w.maxEntries, &leased, &idle)
		w.keepUndo = w.keepUndo || leased
		if errors.Is(err, pgx.ErrNoRows) {
			return index.ErrNoTenant
		}
		return err
	})
	if err := w.conn.SendBatch(w.ctx, b).Close(); err != nil {
		return err
	}
	w.base = w.seq
	if w.maxEntries <= 0 {
		w.maxEntries = w.s.opts.MaxEntries
	}
	return nil
}

// queue adds a statement that changes rows to the pending pipeline.
func (w *writeTx) queue(sql string, a ...any) *pgx.QueuedQuery {
	if w.b == nil {
		w.b = &pgx.Batch{}
	}
	w.wrote = true
	return w.b.Queue(sql, a...)
}

// flush sends the pending pipeline and runs its callbacks.
func (w *writeTx) flush() error {
	if w.b == nil {
		return nil
	}
	b := w.b
	w.b = nil
	err := w.conn.SendBatch(w.ctx, b).Close()
	if stale(err) {
		return errStale()
	}
	return err
}

// commit sends the pending statements, the head update (the new seq and the limit
// check) and COMMIT in one pipeline.
func (w *writeTx) commit() error {
	if !w.wrote {
		return nil // the deferred rollback ends it: nothing to make durable
	}
	if w.b == nil {
		w.b = &pgx.Batch{}
	}
	b := w.b
	w.b = nil
	if w.seq != w.base || w.counted {
		// An over-limit growth sets head_seq to -1, which its CHECK refuses: an error,
		// so the server skips the COMMIT queued behind.
		b.Queue(`UPDATE tenant_heads h SET head_seq = CASE WHEN $3::boolean AND (
				(h.used_bytes > $4 AND t.quota > 0 AND h.used_bytes > t.quota) OR
				(h.entries > $5 AND coalesce(nullif(t.max_entries, 0), $6) > 0 AND h.entries > coalesce(nullif(t.max_entries, 0), $6)))
			THEN -1 ELSE $2 END
			FROM tenants t WHERE h.tenant_id = $1 AND t.id = h.tenant_id`,
			w.tid, w.seq, !w.s.opts.NoLimits, w.used, w.entries, w.s.opts.MaxEntries).Exec(func(ct pgconn.CommandTag) error {
			if ct.RowsAffected() != 1 {
				return fmt.Errorf("pgindex: head row of %s gone during its write", w.tid)
			}
			return nil
		})
	}
	b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
		if ct.String() != "COMMIT" {
			return fmt.Errorf("pgindex: commit answered %q", ct.String())
		}
		return nil
	})
	err := w.conn.SendBatch(w.ctx, b).Close()
	if stale(err) {
		return errStale()
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.ConstraintName == "tenant_heads_head_seq_check" {
		if lerr := w.checkLimits(); lerr != nil {
			return lerr
		}
		return protocol.Errorf(protocol.CodeQuotaExceeded, "the tenant's quota is exceeded")
	}
	return err
}

// checkLimits says which limit a transaction that grew the usage went past, from the
// deltas of its statements (the quota first).
func (w *writeTx) checkLimits() error {
	if w.usedDelta > 0 && w.quota > 0 && w.used+w.usedDelta > w.quota {
		return protocol.Errorf(protocol.CodeQuotaExceeded, "the tenant's quota is exceeded")
	}
	if w.entDelta > 0 && w.maxEntries > 0 && w.entries+w.entDelta > w.maxEntries {
		return protocol.Errorf(protocol.CodeTooLarge, "the tenant's entry limit is reached")
	}
	return nil
}

// rollback ends the transaction if one is open; a connection it cannot bring back to
// idle is closed (the pool then drops it).
func (w *writeTx) rollback() {
	c := w.conn.Conn()
	if c.IsClosed() || c.PgConn().IsBusy() || c.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 5*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		c.Close(ctx)
	}
}

func (w *writeTx) Head() (string, int64) { return w.epoch, w.seq }

func (w *writeTx) Append(ev protocol.Event, metaSeq int64, at time.Time) error {
	if ev.Seq != w.seq+1 {
		return fmt.Errorf("%w: %d after %d", index.ErrSeqGap, ev.Seq, w.seq)
	}
	m := ev.Operation.Meta()
	var from string
	if ev.Operation.Move != nil {
		from = ev.Operation.Move.From
	}
	w.queue(`INSERT INTO tenant_changes (tenant_id, seq, op, from_path, path, is_dir, size, hash, modified, source_client, source_subject, at, meta_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, w.tid, ev.Seq, ev.Operation.Kind(), from, m.Path, m.IsDirectory,
		m.Size, m.Hash, m.Modified.UnixNano(), ev.SourceClient, ev.SourceSubject, at.UnixNano(), metaSeq)
	w.seq = ev.Seq
	return nil
}

// fileBytes is the SQL of the bytes of the files among rows (directories count 0).
const fileBytes = `coalesce(sum(CASE WHEN is_dir THEN 0 ELSE size END), 0)::bigint`

func (w *writeTx) PutEntry(m protocol.Metadata) error {
	fold := pathrule.FoldKey(m.Path)
	if w.keepUndo {
		w.undoRows(func(a *args) string { return "fold = " + a.p(fold) })
		w.undoAbsent(m.Path)
	}
	var size int64
	if !m.IsDirectory {
		size = m.Size
	}
	// The row it replaces, if any, is read in the statement's snapshot (before the
	// upsert); the head's counters move by the difference.
	w.counted = true
	w.queue(`WITH old AS (SELECT is_dir, size FROM tenant_entries WHERE tenant_id = $1 AND fold = $2),
		up AS (INSERT INTO tenant_entries (tenant_id, fold, path, parent, is_dir, size, hash, modified, seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (tenant_id, fold) DO UPDATE SET path = excluded.path, parent = excluded.parent, is_dir = excluded.is_dir,
				size = excluded.size, hash = excluded.hash, modified = excluded.modified, seq = excluded.seq),
		d AS (SELECT count(*) AS n, `+fileBytes+` AS bytes FROM old),
		h AS (UPDATE tenant_heads SET used_bytes = used_bytes + $10 - d.bytes, entries = entries + 1 - d.n
			FROM d WHERE tenant_id = $1 AND (d.n <> 1 OR d.bytes <> $10))
		SELECT n, bytes FROM d`,
		w.tid, fold, m.Path, pathrule.Parent(m.Path), m.IsDirectory, m.Size, m.Hash, m.Modified.UnixNano(), m.Seq, size).QueryRow(func(r pgx.Row) error {
		var n, old int64
		if err := r.Scan(&n, &old); err != nil {
			return err
		}
		w.entDelta += 1 - n
		w.usedDelta += size - old
		return nil
	})
	return nil
}

// tree is the condition "col is p or lies under it".
func tree(a *args, col, p string) string {
	return "(" + col + " = " + a.p(p) + " OR " + a.under(col, p) + ")"
}

func (w *writeTx) RemoveTree(p string) (n, bytes int64, err error) {
	if w.keepUndo {
		w.undoRows(func(a *args) string { return tree(a, "path", p) })
	}
	a := args{w.tid}
	sql := `WITH d AS (DELETE FROM tenant_entries WHERE tenant_id = $1 AND ` + tree(&a, "path", p) + ` RETURNING is_dir, size),
		s AS (SELECT count(*) AS n, ` + fileBytes + ` AS bytes, coalesce(bool_or(is_dir), false) AS dirs FROM d),
		h AS (UPDATE tenant_heads SET used_bytes = used_bytes - s.bytes, entries = entries - s.n FROM s WHERE tenant_id = $1 AND s.n > 0)
		SELECT n, bytes, dirs FROM s`
	w.counted = true
	var dirs bool // a directory is among them
	w.queue(sql, a...).QueryRow(func(r pgx.Row) error { return r.Scan(&n, &bytes, &dirs) })
	if err := w.flush(); err != nil {
		return 0, 0, err
	}
	if dirs || p == "" {
		w.dropDirStamps(p) // sent with the next pipeline
	}
	w.entDelta -= n
	w.usedDelta -= bytes
	return n, bytes, nil
}

func (w *writeTx) MoveTree(from, to string, seq int64) error {
	ff, tf := pathrule.FoldKey(from), pathrule.FoldKey(to)
	if w.keepUndo {
		w.undoRows(func(a *args) string { return tree(a, "path", from) })
		w.undoAbsent(to)
		w.undoMoved(from, to)
	}
	w.dropDirStamps(from)
	w.dropDirStamps(to)
	w.queue(`UPDATE tenant_entries SET path = $3, fold = $4, parent = $5, seq = $6 WHERE tenant_id = $1 AND path = $2`,
		w.tid, from, to, tf, pathrule.Parent(to), seq)
	a := args{w.tid}
	t, n := a.p(to), a.p(runeLen(from)+1)
	sql := `UPDATE tenant_entries SET path = ` + t + `::text || substr(path, ` + n + `), fold = ` + a.p(tf) + `::text || substr(fold, ` +
		a.p(runeLen(ff)+1) + `), parent = ` + t + `::text || substr(parent, ` + n + `), seq = ` + a.p(seq) +
		` WHERE tenant_id = $1 AND ` + a.under("path", from)
	w.queue(sql, a...)
	// Versions follow the path (matched under folding, as Versions looks them up).
	w.queue(`UPDATE tenant_versions SET path = $3, fold = $4 WHERE tenant_id = $1 AND fold = $2`, w.tid, ff, to, tf)
	va := args{w.tid}
	sql = `UPDATE tenant_versions SET path = ` + va.p(to) + `::text || substr(path, ` + va.p(runeLen(from)+1) + `), fold = ` +
		va.p(tf) + `::text || substr(fold, ` + va.p(runeLen(ff)+1) + `) WHERE tenant_id = $1 AND ` + va.under("fold", ff)
	w.queue(sql, va...)
	return nil
}

func (w *writeTx) AddVersion(id string, m protocol.Metadata, replacedAt time.Time, deleted bool) error {
	w.queue(`INSERT INTO tenant_versions (tenant_id, id, path, fold, size, hash, modified, replaced_at, deleted)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, w.tid, id, m.Path, pathrule.FoldKey(m.Path), m.Size, m.Hash, m.Modified.UnixNano(),
		replacedAt.UnixNano(), deleted)
	return nil
}

const undoCols = `tenant_id, path, died, present, parent, is_dir, size, hash, modified, seq`

// undoRows keeps the index rows matching where (written by where after $1, the
// tenant, and $2, the died stamp) as they are now. The first state kept for a path in
// a transaction wins (ON CONFLICT DO NOTHING): it is the state before the transaction.
func (w *writeTx) undoRows(where func(a *args) string) {
	a := args{w.tid, w.base + 1}
	sql := `INSERT INTO tenant_entry_undo (` + undoCols + `)
		SELECT tenant_id, path, $2::bigint, true, parent, is_dir, size, hash, modified, seq FROM tenant_entries WHERE tenant_id = $1 AND ` +
		where(&a) + ` ON CONFLICT DO NOTHING`
	w.queue(sql, a...)
}

// undoAbsent keeps "no entry" as p's state, unless a state of p is already kept for
// this transaction (then that one is the older).
func (w *writeTx) undoAbsent(p string) {
	w.queue(`INSERT INTO tenant_entry_undo (`+undoCols+`) VALUES ($1, $2, $3, false, $4, false, 0, '', 0, 0) ON CONFLICT DO NOTHING`,
		w.tid, p, w.base+1, pathrule.Parent(p))
}

// undoMoved keeps "no entry" for every path the subtree under from gets under to
// (the subtree root itself excluded).
func (w *writeTx) undoMoved(from, to string) {
	a := args{w.tid}
	t, n := a.p(to), a.p(runeLen(from)+1)
	sql := `INSERT INTO tenant_entry_undo (` + undoCols + `)
		SELECT tenant_id, ` + t + `::text || substr(path, ` + n + `), ` + a.p(w.base+1) + `::bigint, false, ` + t + `::text || substr(parent, ` + n +
		`), false, 0, '', 0, 0 FROM tenant_entries WHERE tenant_id = $1 AND ` + a.under("path", from) + ` ON CONFLICT DO NOTHING`
	w.queue(sql, a...)
}

// runeLen is the SQL substr position of s's end (PostgreSQL counts characters).
func runeLen(s string) int { return utf8.RuneCountInString(s) }
