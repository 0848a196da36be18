// The index write transaction of a space and how a commit becomes visible.

package tenants

import (
	"context"
	"database/sql"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// wtx is one write transaction of a space: it assigns seqs and collects events.
type wtx struct {
	s            *Space
	ctx          context.Context
	tx           *sql.Tx
	q            sqlite.Q // tx through the statement cache
	epoch        string
	seq          int64
	base         int64 // head_seq when the transaction began
	src          Source
	events       []protocol.Event
	usedDelta    int64
	entriesDelta int64
	// releaseUsed and releaseEntries are taken off pendingUsed and pendingEntries
	// when the transaction commits (set by a group-commit batch).
	releaseUsed    int64
	releaseEntries int64
}

// write runs fn in an IMMEDIATE transaction (shared with other spaces' writes, in its
// own savepoint), commits it durably, then updates the in-memory head and counters
// and publishes the commit on the bus. The caller holds s.mu.
func (s *committer) write(ctx context.Context, src Source, fn func(w *wtx) error) ([]protocol.Event, error) {
	w, err := s.cm.commitTx(ctx, src, fn)
	if err != nil {
		return nil, err
	}
	s.cm.publish(w)
	return w.events, nil
}

// commitTx is write without its last step: the transaction is durable, but the
// in-memory head, the counters and the bus notice are left to publish, which the
// caller must call next (still holding s.mu) unless it returns an error.
func (s *committer) commitTx(ctx context.Context, src Source, fn func(w *wtx) error) (*wtx, error) {
	if s.isClosed() {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	// Commit even if the caller goes away now: the disk has already changed.
	ctx = context.WithoutCancel(ctx)
	// The SQL part joins the registry-wide batch (txbatch.go): one durable commit
	// for the writes of every tenant queued meanwhile.
	var w *wtx
	err := s.reg.store.Batch(ctx, func(tx *sql.Tx) error {
		w = &wtx{s: s.Space, ctx: ctx, tx: tx, q: s.reg.store.InTx(tx), src: src}
		if err := w.q.QueryRowContext(ctx, `SELECT epoch, head_seq FROM tenants WHERE id = ?`, s.id).Scan(&w.epoch, &w.seq); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return protocol.Errorf(protocol.CodeNotFound, "no such tenant")
			}
			return err
		}
		w.base = w.seq
		if err := fn(w); err != nil {
			return err
		}
		_, err := w.q.ExecContext(ctx, `UPDATE tenants SET head_seq = ? WHERE id = ?`, w.seq, s.id)
		return err
	})
	if err != nil {
		return nil, wrapInternal("commit", err)
	}
	return w, nil
}

// publish makes a committed transaction visible: head and counters, then one Notice
// on the bus for the whole transaction (a group commit's members in seq order).
func (s *committer) publish(w *wtx) {
	s.hmu.Lock()
	s.epoch, s.seq = w.epoch, w.seq
	s.used += w.usedDelta
	s.entries += w.entriesDelta
	s.pendingUsed -= w.releaseUsed
	s.pendingEntries -= w.releaseEntries
	s.hmu.Unlock()
	if len(w.events) == 0 {
		return
	}
	n := Notice{TenantID: s.id, TenantName: s.name, Epoch: w.epoch,
		First: w.events[0].Seq, Last: w.events[len(w.events)-1].Seq, Events: w.events}
	if err := s.reg.bus.Publish(w.ctx, n); err != nil {
		s.log.Warn("publish commit", "err", err, "first", n.First, "last", n.Last)
	}
}

// event appends a change-log row with the next seq and returns that seq.
func (w *wtx) event(op, from string, m protocol.Metadata) (int64, error) {
	w.seq++
	// A Delete carries the last metadata of what it deleted, seq included (the change
	// that last wrote it); every other event's metadata was written by the event.
	var metaSeq int64
	if op == protocol.OpDelete && m.Seq > 0 && m.Seq < w.seq {
		metaSeq = m.Seq
	} else {
		m.Seq = w.seq
	}
	_, err := w.q.ExecContext(w.ctx, `INSERT INTO tenant_changes (tenant_id, seq, op, from_path, path, is_dir, size, hash, modified, source_client, source_subject, at, meta_seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, w.s.id, w.seq, op, from, m.Path, m.IsDirectory, m.Size, m.Hash,
		m.Modified.UnixNano(), w.src.ClientID, w.src.Subject, time.Now().UnixNano(), metaSeq)
	if err != nil {
		return 0, err
	}
	w.events = append(w.events, protocol.Event{Type: protocol.TypeFileOperation, Seq: w.seq,
		Operation: protocol.NewOperation(op, from, m), SourceClient: w.src.ClientID, SourceSubject: w.src.Subject})
	return w.seq, nil
}

// put inserts or replaces the index row of m.Path.
func (w *wtx) put(m protocol.Metadata, old *entry) error {
	if w.keepUndo() {
		if err := w.undoRows(`fold = ?`, pathrule.FoldKey(m.Path)); err != nil {
			return err
		}
		if err := w.undoAbsent(m.Path); err != nil {
			return err
		}
	}
	_, err := w.q.ExecContext(w.ctx, `INSERT INTO tenant_entries (tenant_id, fold, path, parent, is_dir, size, hash, modified, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, fold) DO UPDATE SET path = excluded.path, parent = excluded.parent, is_dir = excluded.is_dir,
			size = excluded.size, hash = excluded.hash, modified = excluded.modified, seq = excluded.seq`,
		w.s.id, pathrule.FoldKey(m.Path), m.Path, pathrule.Parent(m.Path), m.IsDirectory, m.Size, m.Hash, m.Modified.UnixNano(), m.Seq)
	if err != nil {
		return err
	}
	if old == nil {
		w.entriesDelta++
	} else if !old.IsDir {
		w.usedDelta -= old.Size
	}
	if !m.IsDirectory {
		w.usedDelta += m.Size
	}
	return nil
}

// removeTree deletes the index rows of p and everything under it.
func (w *wtx) removeTree(p string) error {
	cond, args := subtreeWhere("path", p)
	var n, bytes int64
	if err := w.q.QueryRowContext(w.ctx, `SELECT count(*), coalesce(sum(CASE WHEN is_dir THEN 0 ELSE size END), 0) FROM tenant_entries
		WHERE tenant_id = ? AND (path = ? OR `+cond+`)`, append([]any{w.s.id, p}, args...)...).Scan(&n, &bytes); err != nil {
		return err
	}
	if w.keepUndo() {
		if err := w.undoRows(`(path = ? OR `+cond+`)`, append([]any{p}, args...)...); err != nil {
			return err
		}
	}
	if _, err := w.q.ExecContext(w.ctx, `DELETE FROM tenant_entries WHERE tenant_id = ? AND (path = ? OR `+cond+`)`,
		append([]any{w.s.id, p}, args...)...); err != nil {
		return err
	}
	w.entriesDelta -= n
	w.usedDelta -= bytes
	return nil
}

// addVersion records a kept earlier content of path.
func (w *wtx) addVersion(id, path string, e *entry, deleted bool) error {
	_, err := w.q.ExecContext(w.ctx, `INSERT INTO tenant_versions (tenant_id, id, path, fold, size, hash, modified, replaced_at, deleted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, w.s.id, id, path, pathrule.FoldKey(path), e.Size, e.Hash, e.Modified.UnixNano(),
		time.Now().UnixNano(), deleted)
	return err
}

// runeLen is the SQL substr length of s (SQLite counts characters of TEXT).
func runeLen(s string) int { return utf8.RuneCountInString(s) }
