package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// readTx runs fn in a read-only transaction: a WAL read snapshot (DEFERRED).
func (r reads) readTx(ctx context.Context, fn func(q Q) error) error {
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(r.InTx(tx))
}

func head(ctx context.Context, q querier, id string) (epoch string, head int64, err error) {
	err = q.QueryRowContext(ctx, `SELECT epoch, head_seq FROM tenants WHERE id = ?`, id).Scan(&epoch, &head)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, index.ErrNoTenant
	}
	return epoch, head, err
}

// Changes implements index.Viewer. Oldest and Events are read only when since is
// behind the head.
func (r reads) Changes(ctx context.Context, id string, since int64, limit int) (index.ChangesPage, error) {
	var page index.ChangesPage
	err := r.readTx(ctx, func(q Q) error {
		var err error
		if page.Epoch, page.Head, err = head(ctx, q, id); err != nil || since >= page.Head {
			return err
		}
		var oldest sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT min(seq) FROM tenant_changes WHERE tenant_id = ?`, id).Scan(&oldest); err != nil {
			return err
		}
		page.Oldest = oldest.Int64
		if page.Oldest == 0 || since+1 < page.Oldest {
			return nil
		}
		rows, err := q.QueryContext(ctx, `SELECT seq, op, from_path, path, is_dir, size, hash, modified, source_client, source_subject, meta_seq
			FROM tenant_changes WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, id, since, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ev, err := scanEvent(rows)
			if err != nil {
				return err
			}
			if len(page.Events) == limit {
				page.More = true
				break
			}
			page.Events = append(page.Events, ev)
		}
		return rows.Err()
	})
	return page, err
}

func scanEvent(sc interface{ Scan(...any) error }) (protocol.Event, error) {
	var (
		seq, size, mod, metaSeq int64
		op, from, p             string
		isDir                   bool
		hash, cl, sub           string
	)
	if err := sc.Scan(&seq, &op, &from, &p, &isDir, &size, &hash, &mod, &cl, &sub, &metaSeq); err != nil {
		return protocol.Event{}, err
	}
	if metaSeq == 0 {
		metaSeq = seq
	}
	meta := protocol.Metadata{Path: p, Size: size, Modified: time.Unix(0, mod).UTC(), Hash: hash, IsDirectory: isDir, Seq: metaSeq}
	return protocol.Event{Type: protocol.TypeFileOperation, Seq: seq, Operation: protocol.NewOperation(op, from, meta),
		SourceClient: cl, SourceSubject: sub}, nil
}

// View implements index.Viewer with one read transaction.
func (r reads) View(ctx context.Context, id string, fn func(index.View) error) error {
	return r.readTx(ctx, func(q Q) error { return fn(&view{ctx: ctx, q: q, id: id}) })
}

// view is index.View in a read transaction.
type view struct {
	ctx context.Context
	q   Q
	id  string
}

func (v *view) Head() (string, int64, error) { return head(v.ctx, v.q, v.id) }

func (v *view) Lookup(p string) (*index.Entry, error) { return lookup(v.ctx, v.q, v.id, p) }

// ListPage reads up to n index rows and undo rows each, up to the smaller of their
// last paths, and merges them: per path the undo row with the smallest died > snap,
// where there is one, is the path's state at snap, else the current row is.
//
// The key range is one lower and one upper bound on path: given two lower bounds
// (the subtree's and the page's), SQLite seeks to the first and filters by the
// other, which read every earlier row of the subtree again for each page.
func (v *view) ListPage(dir string, recursive bool, snap int64, after string, n int) (page []*index.Entry, next string, done bool, err error) {
	where, args := "parent = ? AND path > ?", []any{dir, after}
	if recursive {
		where, args = pageRange(dir, after)
	}
	cur, err := entries(v.ctx, v.q, `SELECT `+entryCols+` FROM tenant_entries WHERE tenant_id = ? AND `+where+` ORDER BY path LIMIT ?`,
		append(append([]any{v.id}, args...), n)...)
	if err != nil {
		return nil, "", false, err
	}
	undo, err := v.undoRows(where, args, snap, n)
	if err != nil {
		return nil, "", false, err
	}
	// The page covers (after, end]; without a full batch on either side, the rest.
	done = true
	if len(cur) == n {
		next, done = cur[n-1].Path, false
	}
	if len(undo) == n && (done || undo[n-1].Entry.Path < next) {
		next, done = undo[n-1].Entry.Path, false
	}
	return index.MergeUndo(cur, undo, next, done), next, done, nil
}

// pageRange is the condition on path of a recursive page under dir after the path
// after: every path under dir ("" = the root) greater than after, as one range.
func pageRange(dir, after string) (string, []any) {
	if dir == "" {
		return "path > ?", []any{after}
	}
	lo := dir + "/"
	if after > lo {
		lo = after
	}
	return "path > ? AND path < ?", []any{lo, dir + "0"}
}

// undoRows reads per path the earliest state after snap (SQLite takes the bare
// columns from the row holding min(died)).
func (v *view) undoRows(where string, args []any, snap int64, n int) ([]index.UndoRow, error) {
	rows, err := v.q.QueryContext(v.ctx, `SELECT path, present, is_dir, size, hash, modified, seq, min(died) FROM tenant_entry_undo
		WHERE tenant_id = ? AND died > ? AND `+where+` GROUP BY path ORDER BY path LIMIT ?`,
		append(append([]any{v.id, snap}, args...), n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var undo []index.UndoRow
	for rows.Next() {
		var u index.UndoRow
		var mod, died int64
		if err := rows.Scan(&u.Entry.Path, &u.Present, &u.Entry.IsDir, &u.Entry.Size, &u.Entry.Hash, &mod, &u.Entry.Seq, &died); err != nil {
			return nil, err
		}
		u.Entry.Modified = time.Unix(0, mod).UTC()
		undo = append(undo, u)
	}
	return undo, rows.Err()
}
