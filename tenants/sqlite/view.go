package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// readTx runs fn in a read-only transaction (a WAL read snapshot, DEFERRED) of
// tenant id, with the overlay of that snapshot and the tenant's head row in it
// (hErr: index.ErrNoTenant if there is none): the snapshot is taken by that read,
// with the overlay pinned (journal.pin).
func (r reads) readTx(ctx context.Context, id string, fn func(q Q, g *jgen, epoch string, h int64, hErr error) error) error {
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := r.InTx(tx)
	var epoch string
	var h int64
	var hErr error
	g, err := r.j.pin(func(*jgen) error {
		epoch, h, hErr = head(ctx, q, id)
		if errors.Is(hErr, index.ErrNoTenant) {
			return nil
		}
		return hErr
	})
	if err != nil {
		return err
	}
	return fn(q, g, epoch, h, hErr)
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
	err := r.readTx(ctx, id, func(q Q, g *jgen, epoch string, h int64, hErr error) error {
		page.Epoch, page.Head = epoch, h
		if hErr != nil || since >= page.Head {
			return hErr
		}
		var oldest sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT min(seq) FROM tenant_changes WHERE tenant_id = ?`, id).Scan(&oldest); err != nil {
			return err
		}
		page.Oldest = oldest.Int64
		if page.Oldest == 0 {
			page.Oldest, _ = g.bounds(id, h)
		}
		if page.Oldest == 0 || since+1 < page.Oldest {
			return nil
		}
		evs, err := readChanges(ctx, q, id, since, limit+1)
		if err != nil {
			return err
		}
		if len(evs) <= limit {
			// The overlay's rows follow the table's (they are newer).
			after := since
			if len(evs) > 0 {
				after = evs[len(evs)-1].Seq
			}
			evs = append(evs, g.changes(id, after, h, limit+1-len(evs))...)
		}
		if len(evs) > limit {
			evs, page.More = evs[:limit], true
		}
		page.Events = evs
		return nil
	})
	return page, err
}

// readChanges reads up to n events of tenant id after since from the table.
func readChanges(ctx context.Context, q Q, id string, since int64, n int) ([]protocol.Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, op, from_path, path, is_dir, size, hash, modified, source_client, source_subject, meta_seq
		FROM tenant_changes WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, id, since, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []protocol.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, rows.Err()
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

// View implements index.Viewer with one read transaction. Its snapshot is taken by
// the first read fn makes (the caller may hold a lock for it: tenants/snapshot.go),
// which reads the head row too, with the overlay pinned.
func (r reads) View(ctx context.Context, id string, fn func(index.View) error) error {
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(&view{ctx: ctx, q: r.InTx(tx), id: id, j: &r.j})
}

// view is index.View in a read transaction, with the overlay up to its head.
type view struct {
	ctx context.Context
	q   Q
	id  string
	j   *journal

	// Set by the first read (fix).
	g     *jgen
	epoch string
	head  int64
	hErr  error
}

// fix takes the view's snapshot, if not yet: it reads the head row, with the overlay
// pinned. An error other than index.ErrNoTenant fails every read of the view.
func (v *view) fix() error {
	if v.g != nil {
		return v.hErr
	}
	var err error
	v.g, err = v.j.pin(func(*jgen) error {
		v.epoch, v.head, v.hErr = head(v.ctx, v.q, v.id)
		return nil
	})
	if v.hErr != nil && !errors.Is(v.hErr, index.ErrNoTenant) {
		return v.hErr
	}
	return err
}

func (v *view) Head() (string, int64, error) {
	if err := v.fix(); err != nil {
		return "", 0, err
	}
	return v.epoch, v.head, v.hErr
}

func (v *view) Lookup(p string) (*index.Entry, error) {
	if err := v.fix(); err != nil {
		return nil, err
	}
	if e, ok := v.g.lookup(v.id, pathrule.FoldKey(p), v.head); ok {
		return e, nil
	}
	return lookup(v.ctx, v.q, v.id, p)
}

// ListPage reads up to n index rows and undo rows each, up to the smaller of their
// last paths, and merges them: per path the undo row with the smallest died > snap,
// where there is one, is the path's state at snap, else the current row is.
//
// The key range is one lower and one upper bound on path: given two lower bounds
// (the subtree's and the page's), SQLite seeks to the first and filters by the
// other, which read every earlier row of the subtree again for each page.
func (v *view) ListPage(dir string, recursive bool, snap int64, after string, n int) (page []*index.Entry, next string, done bool, err error) {
	if err := v.fix(); err != nil {
		return nil, "", false, err
	}
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
	cur, next, done = v.overlayPage(cur, dir, recursive, after, n, next, done)
	if len(undo) == n && (done || undo[n-1].Entry.Path < next) {
		next, done = undo[n-1].Entry.Path, false
	}
	return index.MergeUndo(cur, undo, next, done), next, done, nil
}

// overlayPage puts the overlay's rows of the page's range (after, next] (or (after,
// end] if done) into cur, the table's rows of the page, in path order, and keeps at
// most n of them: then the page ends at the n-th.
func (v *view) overlayPage(cur []*index.Entry, dir string, recursive bool, after string, n int, next string, done bool) ([]*index.Entry, string, bool) {
	ov, folds := v.g.entries(v.id, v.head, func(path, parent string) bool {
		if path <= after || (!done && path > next) {
			return false
		}
		if recursive {
			return under(path, dir)
		}
		return parent == dir
	})
	cur = overlaid(cur, ov, folds, true)
	if len(cur) > n {
		cur = cur[:n]
		next, done = cur[n-1].Path, false
	}
	return cur, next, done
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
