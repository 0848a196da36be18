package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.Writer = (*Store)(nil)

// Write runs fn in a write transaction of the tenant, inside the cross-tenant batch
// (txbatch.go), and sets the tenant's head_seq to the last appended seq before the
// batch commits. The head row is read from the batcher's kept heads when it has it
// (no other connection committed since); the UPDATE still checks that the row holds
// what was read, so a kept head that were wrong would fail the write (or its batch),
// not fork the log. A write that only appends and puts entries runs no statement of
// its own: its rows and head update go to the batch's stage (stage.go).
func (r *Store) Write(ctx context.Context, tenantID string, o index.WriteOptions, fn func(index.Tx) error) error {
	return r.batch(ctx, o, func(j *jobTx) (err error) {
		defer func() {
			if err != nil {
				r.txb.forgetHead(tenantID)
			}
		}()
		w := &writeTx{ctx: ctx, job: j, q: j.q, tid: tenantID, keepUndo: o.KeepUndo, changes: changeRows, entries: entryRows}
		if err := w.readHead(); err != nil {
			return err
		}
		w.base = w.seq
		if err := fn(w); err != nil {
			return err
		}
		if err := w.finish(); err != nil {
			return err
		}
		r.txb.keepHead(tenantID, headRow{w.epoch, w.seq})
		return nil
	})
}

// readHead reads the tenant's head row, or takes the one the batcher kept.
func (w *writeTx) readHead() error {
	if h, ok := w.job.b.cachedHead(w.tid); ok {
		w.epoch, w.seq = h.epoch, h.seq
		return nil
	}
	if err := w.job.readHead(w.tid); err != nil {
		return err
	}
	err := w.q.QueryRowContext(w.ctx, `SELECT epoch, head_seq FROM tenants WHERE id = ?`, w.tid).Scan(&w.epoch, &w.seq)
	if errors.Is(err, sql.ErrNoRows) {
		return index.ErrNoTenant
	}
	return err
}

// finish hands the queued rows and the head update to the batch's stage, or, if the
// write ran statements of its own, inserts the rows and moves the head row itself.
func (w *writeTx) finish() error {
	// An entry without an event would not be ordered by the head: it runs its own
	// statements (after a merge of the journal) instead.
	if !w.job.own && (w.seq > w.base || len(w.entries.args) == 0) {
		w.job.stage(&w.changes, &w.entries, stagedHead{w.tid, w.epoch, w.base, w.seq})
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	if w.seq == w.base {
		return nil
	}
	res, err := w.q.ExecContext(w.ctx, `UPDATE tenants SET head_seq = ? WHERE id = ? AND epoch = ? AND head_seq = ?`,
		w.seq, w.tid, w.epoch, w.base)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("sqlite: head row of tenant %s is no longer %s/%d (%d rows, %v)", w.tid, w.epoch, w.base, n, err)
	}
	return nil
}

// writeTx is index.Tx on SQLite.
type writeTx struct {
	ctx      context.Context
	job      *jobTx // its job in the batch
	q        Q      // the job's: in the batch's transaction, counted
	tid      string
	epoch    string
	seq      int64
	base     int64 // head_seq when the transaction began
	keepUndo bool
	changes  rowBuf // queued change-log rows
	entries  rowBuf // queued entry rows
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
	w.changes.add(w.tid, ev.Seq, ev.Operation.Kind(), from, m.Path, m.IsDirectory, m.Size, m.Hash,
		m.Modified.UnixNano(), ev.SourceClient, ev.SourceSubject, at.UnixNano(), metaSeq)
	w.seq = ev.Seq
	return nil
}

func (w *writeTx) PutEntry(m protocol.Metadata) error {
	if w.keepUndo {
		if err := w.flush(); err != nil { // readies the savepoint too
			return err
		}
		if err := w.undoRows(`fold = ?`, pathrule.FoldKey(m.Path)); err != nil {
			return err
		}
		if err := w.undoAbsent(m.Path); err != nil {
			return err
		}
	}
	w.entries.add(w.tid, pathrule.FoldKey(m.Path), m.Path, pathrule.Parent(m.Path), m.IsDirectory, m.Size, m.Hash, m.Modified.UnixNano(), m.Seq)
	if w.keepUndo {
		// The next PutEntry's undo rows read the entries.
		return w.flush()
	}
	return nil
}

// Queued rows (rowbuf.go) of the change log and of the entries.
var (
	changeRows = newRowBuf(`INSERT OR FAIL INTO tenant_changes (tenant_id, seq, op, from_path, path, is_dir, size, hash, modified, source_client, source_subject, at, meta_seq)`,
		13, "")
	entryRows = newRowBuf(`INSERT OR FAIL INTO tenant_entries (tenant_id, fold, path, parent, is_dir, size, hash, modified, seq)`, 9, `
		ON CONFLICT (tenant_id, fold) DO UPDATE SET path = excluded.path, parent = excluded.parent, is_dir = excluded.is_dir,
			size = excluded.size, hash = excluded.hash, modified = excluded.modified, seq = excluded.seq`)
)

// flush readies the job for statements that change data (jobTx.change: the batch's
// stage is flushed, the job's savepoint opened) and inserts the queued change-log and
// entry rows: every other statement of the transaction, and its end, runs after it.
func (w *writeTx) flush() error {
	if err := w.job.change(); err != nil {
		return err
	}
	if err := w.changes.flush(w.ctx, w.q); err != nil {
		return err
	}
	return w.entries.flush(w.ctx, w.q)
}

func (w *writeTx) RemoveTree(p string) (n, bytes int64, err error) {
	if err := w.flush(); err != nil {
		return 0, 0, err
	}
	cond, args := SubtreeWhere("path", p)
	var dirs bool // a directory is among them
	if err := w.q.QueryRowContext(w.ctx, `SELECT count(*), coalesce(sum(CASE WHEN is_dir THEN 0 ELSE size END), 0), coalesce(max(is_dir), 0)
		FROM tenant_entries WHERE tenant_id = ? AND (path = ? OR `+cond+`)`, append([]any{w.tid, p}, args...)...).Scan(&n, &bytes, &dirs); err != nil {
		return 0, 0, err
	}
	if dirs || p == "" {
		if err := w.dropDirStamps(p); err != nil {
			return 0, 0, err
		}
	}
	if w.keepUndo {
		if err := w.undoRows(`(path = ? OR `+cond+`)`, append([]any{p}, args...)...); err != nil {
			return 0, 0, err
		}
	}
	if _, err := w.q.ExecContext(w.ctx, `DELETE FROM tenant_entries WHERE tenant_id = ? AND (path = ? OR `+cond+`)`,
		append([]any{w.tid, p}, args...)...); err != nil {
		return 0, 0, err
	}
	return n, bytes, nil
}

func (w *writeTx) MoveTree(from, to string, seq int64) error {
	if err := w.flush(); err != nil {
		return err
	}
	ff, tf := pathrule.FoldKey(from), pathrule.FoldKey(to)
	n := runeLen(from) + 1
	nf := runeLen(ff) + 1
	cond, args := SubtreeWhere("path", from)
	if w.keepUndo {
		if err := w.undoRows(`(path = ? OR `+cond+`)`, append([]any{from}, args...)...); err != nil {
			return err
		}
		if err := w.undoAbsent(to); err != nil {
			return err
		}
		if err := w.undoMoved(from, to, n); err != nil {
			return err
		}
	}
	if err := w.dropDirStamps(from); err != nil {
		return err
	}
	if err := w.dropDirStamps(to); err != nil {
		return err
	}
	// The root entry.
	if _, err := w.q.ExecContext(w.ctx, `UPDATE tenant_entries SET path = ?, fold = ?, parent = ?, seq = ? WHERE tenant_id = ? AND path = ?`,
		to, tf, pathrule.Parent(to), seq, w.tid, from); err != nil {
		return err
	}
	if _, err := w.q.ExecContext(w.ctx, `UPDATE tenant_entries SET path = ? || substr(path, ?), fold = ? || substr(fold, ?),
		parent = ? || substr(parent, ?), seq = ? WHERE tenant_id = ? AND `+cond,
		append([]any{to, n, tf, nf, to, n, seq, w.tid}, args...)...); err != nil {
		return err
	}
	// Versions follow the path (matched under folding, as Versions looks them up).
	fcond, fargs := SubtreeWhere("fold", ff)
	if _, err := w.q.ExecContext(w.ctx, `UPDATE tenant_versions SET path = ?, fold = ? WHERE tenant_id = ? AND fold = ?`,
		to, tf, w.tid, ff); err != nil {
		return err
	}
	_, err := w.q.ExecContext(w.ctx, `UPDATE tenant_versions SET path = ? || substr(path, ?), fold = ? || substr(fold, ?)
		WHERE tenant_id = ? AND `+fcond, append([]any{to, n, tf, nf, w.tid}, fargs...)...)
	return err
}

func (w *writeTx) AddVersion(id string, m protocol.Metadata, replacedAt time.Time, deleted bool) error {
	if err := w.flush(); err != nil {
		return err
	}
	_, err := w.q.ExecContext(w.ctx, `INSERT INTO tenant_versions (tenant_id, id, path, fold, size, hash, modified, replaced_at, deleted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, w.tid, id, m.Path, pathrule.FoldKey(m.Path), m.Size, m.Hash, m.Modified.UnixNano(),
		replacedAt.UnixNano(), deleted)
	return err
}

const undoCols = `tenant_id, path, died, present, parent, is_dir, size, hash, modified, seq`

// undoRows keeps the index rows matching where (and the tenant) as they are now. The
// first state kept for a path in a transaction wins (INSERT OR IGNORE): it is the
// state before the transaction.
func (w *writeTx) undoRows(where string, args ...any) error {
	_, err := w.q.ExecContext(w.ctx, `INSERT OR IGNORE INTO tenant_entry_undo (`+undoCols+`)
		SELECT tenant_id, path, ?, 1, parent, is_dir, size, hash, modified, seq FROM tenant_entries WHERE tenant_id = ? AND `+where,
		append([]any{w.base + 1, w.tid}, args...)...)
	return err
}

// undoAbsent keeps "no entry" as p's state, unless a state of p is already kept for
// this transaction (then that one is the older).
func (w *writeTx) undoAbsent(p string) error {
	_, err := w.q.ExecContext(w.ctx, `INSERT OR IGNORE INTO tenant_entry_undo (`+undoCols+`) VALUES (?, ?, ?, 0, ?, 0, 0, '', 0, 0)`,
		w.tid, p, w.base+1, pathrule.Parent(p))
	return err
}

// undoMoved keeps "no entry" for every path the subtree under from gets under to
// (the subtree root itself excluded). n is runeLen(from)+1.
func (w *writeTx) undoMoved(from, to string, n int) error {
	cond, args := SubtreeWhere("path", from)
	_, err := w.q.ExecContext(w.ctx, `INSERT OR IGNORE INTO tenant_entry_undo (`+undoCols+`)
		SELECT tenant_id, ? || substr(path, ?), ?, 0, ? || substr(parent, ?), 0, 0, '', 0, 0 FROM tenant_entries WHERE tenant_id = ? AND `+cond,
		append([]any{to, n, w.base + 1, to, n, w.tid}, args...)...)
	return err
}

// SubtreeWhere is the SQL condition "path lies strictly under dir" for column col,
// with its two arguments. For the root every path matches.
func SubtreeWhere(col, dir string) (string, []any) {
	if dir == "" {
		return "1", nil
	}
	return "(" + col + " > ? AND " + col + " < ?)", []any{dir + "/", dir + "0"}
}

// runeLen is the SQL substr length of s (SQLite counts characters of TEXT).
func runeLen(s string) int { return utf8.RuneCountInString(s) }
