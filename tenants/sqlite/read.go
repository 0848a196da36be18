package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

var (
	_ index.Reader = (*Store)(nil)
	_ index.Viewer = (*Store)(nil)
)

// querier is a Q on the pool or in a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const entryCols = `path, is_dir, size, hash, modified, seq`

func scanEntry(sc interface{ Scan(...any) error }) (*index.Entry, error) {
	var e index.Entry
	var mod int64
	if err := sc.Scan(&e.Path, &e.IsDir, &e.Size, &e.Hash, &mod, &e.Seq); err != nil {
		return nil, err
	}
	e.Modified = time.Unix(0, mod).UTC()
	return &e, nil
}

func lookup(ctx context.Context, q querier, id, p string) (*index.Entry, error) {
	e, err := scanEntry(q.QueryRowContext(ctx, `SELECT `+entryCols+` FROM tenant_entries WHERE tenant_id = ? AND fold = ?`,
		id, pathrule.FoldKey(p)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return e, err
}

// entries runs a query of entryCols rows.
func entries(ctx context.Context, q querier, query string, args ...any) ([]*index.Entry, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*index.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Lookup implements index.Reader.
func (r reads) Lookup(ctx context.Context, id, p string) (*index.Entry, error) {
	return lookup(ctx, r.Q(), id, p)
}

// LookupMany implements index.Reader in one query.
func (r reads) LookupMany(ctx context.Context, id string, paths []string) (map[string]*index.Entry, error) {
	out := make(map[string]*index.Entry, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(paths)+1)
	args = append(args, id)
	for _, p := range paths {
		args = append(args, pathrule.FoldKey(p))
	}
	rows, err := r.Q().QueryContext(ctx, `SELECT fold, `+entryCols+` FROM tenant_entries WHERE tenant_id = ? AND fold IN (?`+
		strings.Repeat(", ?", len(paths)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var fold string
		e, err := scanEntry(scanFunc(func(dest ...any) error { return rows.Scan(append([]any{&fold}, dest...)...) }))
		if err != nil {
			return nil, err
		}
		out[fold] = e
	}
	return out, rows.Err()
}

// scanFunc adapts a function to scanEntry's scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// Children implements index.Reader. The index is named: without statistics SQLite
// picks the primary key (tenant_id) and reads every entry of the tenant for each
// directory, which made the disk check of a tenant quadratic in its size.
func (r reads) Children(ctx context.Context, id, dir string) ([]*index.Entry, error) {
	return entries(ctx, r.Q(), childrenSQL, id, dir)
}

const childrenSQL = `SELECT ` + entryCols + ` FROM tenant_entries INDEXED BY tenant_entries_parent WHERE tenant_id = ? AND parent = ?`

// Subtree implements index.Reader.
func (r reads) Subtree(ctx context.Context, id, dir string) ([]*index.Entry, error) {
	cond, args := SubtreeWhere("path", dir)
	return entries(ctx, r.Q(), `SELECT `+entryCols+` FROM tenant_entries WHERE tenant_id = ? AND `+cond+` ORDER BY path`,
		append([]any{id}, args...)...)
}

// ChangeBounds implements index.Reader.
func (r reads) ChangeBounds(ctx context.Context, id string) (oldest, head int64, err error) {
	err = r.Q().QueryRowContext(ctx, `SELECT coalesce((SELECT min(seq) FROM tenant_changes WHERE tenant_id = ?), 0), head_seq FROM tenants WHERE id = ?`,
		id, id).Scan(&oldest, &head)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, index.ErrNoTenant
	}
	return oldest, head, err
}

// ChangedAfter implements index.Reader.
func (r reads) ChangedAfter(ctx context.Context, id, p string, seq int64) (bool, error) {
	cond1, a1 := SubtreeWhere("path", p)
	cond2, a2 := SubtreeWhere("from_path", p)
	args := append([]any{id, seq, p, p}, a1...)
	args = append(args, a2...)
	var n int
	if err := r.Q().QueryRowContext(ctx, `SELECT count(*) FROM tenant_changes WHERE tenant_id = ? AND seq > ?
		AND (path = ? OR from_path = ? OR `+cond1+` OR `+cond2+`)`, args...).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return true, nil
	}
	// A change of an ancestor (a move or delete of a parent) also changed p.
	for a := pathrule.Parent(p); a != ""; a = pathrule.Parent(a) {
		if err := r.Q().QueryRowContext(ctx, `SELECT count(*) FROM tenant_changes WHERE tenant_id = ? AND seq > ? AND (path = ? OR from_path = ?) AND op IN ('Delete','Move')`,
			id, seq, a, a).Scan(&n); err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// nanos is t in Unix ns, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Versions implements index.Reader.
func (r reads) Versions(ctx context.Context, id, p string, since time.Time) ([]protocol.Version, error) {
	rows, err := r.Q().QueryContext(ctx, `SELECT id, size, hash, modified, replaced_at FROM tenant_versions
		WHERE tenant_id = ? AND fold = ? AND replaced_at >= ? ORDER BY replaced_at DESC, id`, id, pathrule.FoldKey(p), nanos(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []protocol.Version{}
	for rows.Next() {
		var v protocol.Version
		var mod, at int64
		if err := rows.Scan(&v.ID, &v.Size, &v.Hash, &mod, &at); err != nil {
			return nil, err
		}
		v.Modified, v.ReplacedAt = time.Unix(0, mod).UTC(), time.Unix(0, at).UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

// DeletedPage implements index.Reader. It walks tenant_versions_fold in fold-key
// order (the subtree is also a fold-key range: folding keeps "/" and works per
// segment), one group per fold key, whose bare columns SQLite takes from the row of
// MAX(replaced_at): the newest deleted version. No sort: each page reads only its own
// groups, so a whole answer reads each row once however many pages it takes.
func (r reads) DeletedPage(ctx context.Context, id, dir string, since time.Time, after string, n int) ([]index.DeletedFile, string, bool, error) {
	cond, args := SubtreeWhere("v.path", dir)
	folds, fargs := "v.fold > ?", []any{after}
	if dir != "" {
		fd := pathrule.FoldKey(dir)
		folds, fargs = "v.fold > ? AND v.fold < ?", []any{max(after, fd+"/"), fd + "0"}
	}
	q := append(append(append([]any{id}, fargs...), nanos(since)), args...)
	rows, err := r.Q().QueryContext(ctx, `SELECT v.path, v.fold, v.id, MAX(v.replaced_at), v.size, v.hash
		FROM tenant_versions v INDEXED BY tenant_versions_fold
		WHERE v.tenant_id = ? AND `+folds+` AND v.deleted = 1 AND v.replaced_at >= ? AND `+cond+`
		AND NOT EXISTS (SELECT 1 FROM tenant_entries e WHERE e.tenant_id = v.tenant_id AND e.fold = v.fold)
		GROUP BY v.fold ORDER BY v.fold LIMIT ?`, append(q, n)...)
	if err != nil {
		return nil, "", false, err
	}
	defer rows.Close()
	out := []index.DeletedFile{}
	last := after
	for rows.Next() {
		var e index.DeletedFile
		var at int64
		if err := rows.Scan(&e.Path, &last, &e.Version, &at, &e.Size, &e.Hash); err != nil {
			return nil, "", false, err
		}
		e.DeletedAt = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, last, len(out) < n, rows.Err()
}

// Version implements index.Reader.
func (r reads) Version(ctx context.Context, id, versionID, p string) (protocol.Metadata, error) {
	m := protocol.Metadata{Path: p}
	var mod int64
	err := r.Q().QueryRowContext(ctx, `SELECT size, hash, modified FROM tenant_versions WHERE tenant_id = ? AND id = ? AND fold = ?`,
		id, versionID, pathrule.FoldKey(p)).Scan(&m.Size, &m.Hash, &mod)
	if errors.Is(err, sql.ErrNoRows) {
		return protocol.Metadata{}, index.ErrNoVersion
	}
	m.Modified = time.Unix(0, mod).UTC()
	return m, err
}
