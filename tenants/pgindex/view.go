package pgindex

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.Viewer = (*Store)(nil)

// Changes implements index.Viewer in one statement (one snapshot, one round trip): the
// head row, the oldest seq kept and up to limit+1 events after since, none beyond the
// head. Events are returned only when since is behind the head and not before the
// oldest kept seq (else the caller resyncs).
func (s *Store) Changes(ctx context.Context, id string, since int64, limit int) (index.ChangesPage, error) {
	rows, err := s.pool.Query(ctx, `SELECT h.epoch, h.head_seq, coalesce(o.oldest, 0),
			coalesce(c.seq, 0), coalesce(c.op, ''), coalesce(c.from_path, ''), coalesce(c.path, ''), coalesce(c.is_dir, false),
			coalesce(c.size, 0), coalesce(c.hash, ''), coalesce(c.modified, 0), coalesce(c.source_client, ''),
			coalesce(c.source_subject, ''), coalesce(c.meta_seq, 0)
		FROM tenant_heads h
		CROSS JOIN LATERAL (SELECT min(seq) AS oldest FROM tenant_changes WHERE tenant_id = h.tenant_id) o
		LEFT JOIN LATERAL (SELECT * FROM tenant_changes c WHERE c.tenant_id = h.tenant_id AND c.seq > $2 AND c.seq <= h.head_seq
			AND $2 < h.head_seq AND $2 + 1 >= o.oldest ORDER BY c.seq LIMIT $3) c ON true
		WHERE h.tenant_id = $1 ORDER BY c.seq`, id, since, limit+1)
	if err != nil {
		return index.ChangesPage{}, err
	}
	defer rows.Close()
	var page index.ChangesPage
	found := false
	for rows.Next() {
		found = true
		var (
			seq, size, mod, metaSeq int64
			op, from, p             string
			isDir                   bool
			hash, cl, sub           string
		)
		if err := rows.Scan(&page.Epoch, &page.Head, &page.Oldest, &seq, &op, &from, &p, &isDir, &size, &hash, &mod, &cl, &sub, &metaSeq); err != nil {
			return index.ChangesPage{}, err
		}
		if seq == 0 {
			continue
		}
		if len(page.Events) == limit {
			page.More = true
			continue
		}
		if metaSeq == 0 {
			metaSeq = seq
		}
		meta := protocol.Metadata{Path: p, Size: size, Modified: time.Unix(0, mod).UTC(), Hash: hash, IsDirectory: isDir, Seq: metaSeq}
		page.Events = append(page.Events, protocol.Event{Type: protocol.TypeFileOperation, Seq: seq,
			Operation: protocol.NewOperation(op, from, meta), SourceClient: cl, SourceSubject: sub})
	}
	if err := rows.Err(); err != nil {
		return index.ChangesPage{}, err
	}
	if !found {
		return index.ChangesPage{}, index.ErrNoTenant
	}
	return page, nil
}

// View implements index.Viewer with one REPEATABLE READ, read-only transaction.
func (s *Store) View(ctx context.Context, id string, fn func(index.View) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(&view{ctx: ctx, q: tx, id: id})
	})
}

// view is index.View in a read transaction.
type view struct {
	ctx context.Context
	q   querier
	id  string
}

func (v *view) Head() (epoch string, head int64, err error) {
	err = v.q.QueryRow(v.ctx, `SELECT epoch, head_seq FROM tenant_heads WHERE tenant_id = $1`, v.id).Scan(&epoch, &head)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, index.ErrNoTenant
	}
	return epoch, head, err
}

func (v *view) Lookup(p string) (*index.Entry, error) { return lookup(v.ctx, v.q, v.id, p) }

// ListPage reads up to n index rows and undo rows each, up to the smaller of their
// last paths, and merges them: per path the undo row with the smallest died > snap,
// where there is one, is the path's state at snap, else the current row is.
func (v *view) ListPage(dir string, recursive bool, snap int64, after string, n int) (page []*index.Entry, next string, done bool, err error) {
	where := func(a *args) string {
		if recursive {
			return a.under("path", dir)
		}
		return "parent = " + a.p(dir)
	}
	a := args{v.id}
	sql := `SELECT ` + entryCols + ` FROM tenant_entries WHERE tenant_id = $1 AND ` + where(&a) + ` AND path > ` + a.p(after) +
		` ORDER BY path LIMIT ` + a.p(n)
	cur, err := entries(v.ctx, v.q, sql, a...)
	if err != nil {
		return nil, "", false, err
	}
	undo, err := v.undoRows(where, snap, after, n)
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

// undoRows reads per path the earliest state after snap.
func (v *view) undoRows(where func(a *args) string, snap int64, after string, n int) ([]index.UndoRow, error) {
	a := args{v.id, snap}
	sql := `SELECT DISTINCT ON (path) path, present, is_dir, size, hash, modified, seq FROM tenant_entry_undo
		WHERE tenant_id = $1 AND died > $2 AND ` + where(&a) + ` AND path > ` + a.p(after) + ` ORDER BY path, died LIMIT ` + a.p(n)
	rows, err := v.q.Query(v.ctx, sql, a...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (index.UndoRow, error) {
		var u index.UndoRow
		var mod int64
		err := r.Scan(&u.Entry.Path, &u.Present, &u.Entry.IsDir, &u.Entry.Size, &u.Entry.Hash, &mod, &u.Entry.Seq)
		u.Entry.Modified = time.Unix(0, mod).UTC()
		return u, err
	})
}
