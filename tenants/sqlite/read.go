package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
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

// Lookup implements index.Reader: the overlay's committed row, else the table's.
func (r reads) Lookup(ctx context.Context, id, p string) (e *index.Entry, err error) {
	fold := pathrule.FoldKey(p)
	_, err = r.j.pin(func(g *jgen) error {
		if oe, ok := g.lookup(id, fold, -1); ok {
			e = oe
			return nil
		}
		e, err = lookup(ctx, r.Q(), id, p)
		return err
	})
	return e, err
}

// LookupMany implements index.Reader in one query, the overlay's rows over it.
func (r reads) LookupMany(ctx context.Context, id string, paths []string) (map[string]*index.Entry, error) {
	out := make(map[string]*index.Entry, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	folds := make([]string, len(paths))
	for i, p := range paths {
		folds[i] = pathrule.FoldKey(p)
	}
	g, err := r.j.pin(func(*jgen) error { return lookupFolds(ctx, r.Q(), id, folds, out) })
	if err != nil {
		return nil, err
	}
	for _, f := range folds {
		if e, ok := g.lookup(id, f, -1); ok {
			out[f] = e
		}
	}
	return out, nil
}

// lookupFolds reads the table's entries of tenant id with the fold keys folds
// into out, by fold key.
func lookupFolds(ctx context.Context, q querier, id string, folds []string, out map[string]*index.Entry) error {
	args := make([]any, 0, len(folds)+1)
	args = append(args, id)
	for _, f := range folds {
		args = append(args, f)
	}
	rows, err := q.QueryContext(ctx, `SELECT fold, `+entryCols+` FROM tenant_entries WHERE tenant_id = ? AND fold IN (?`+
		strings.Repeat(", ?", len(folds)-1)+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var fold string
		e, err := scanEntry(scanFunc(func(dest ...any) error { return rows.Scan(append([]any{&fold}, dest...)...) }))
		if err != nil {
			return err
		}
		out[fold] = e
	}
	return rows.Err()
}

// scanFunc adapts a function to scanEntry's scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// Children implements index.Reader. The index is named: without statistics SQLite
// picks the primary key (tenant_id) and reads every entry of the tenant for each
// directory, which made the disk check of a tenant quadratic in its size.
func (r reads) Children(ctx context.Context, id, dir string) ([]*index.Entry, error) {
	return r.withOverlay(ctx, id, func(path, parent string) bool { return parent == dir }, false, childrenSQL, id, dir)
}

const childrenSQL = `SELECT ` + entryCols + ` FROM tenant_entries INDEXED BY tenant_entries_parent WHERE tenant_id = ? AND parent = ?`

// Subtree implements index.Reader.
func (r reads) Subtree(ctx context.Context, id, dir string) ([]*index.Entry, error) {
	cond, args := SubtreeWhere("path", dir)
	return r.withOverlay(ctx, id, func(path, _ string) bool { return under(path, dir) }, true,
		`SELECT `+entryCols+` FROM tenant_entries WHERE tenant_id = ? AND `+cond+` ORDER BY path`, append([]any{id}, args...)...)
}

// withOverlay runs query (rows of tenant id's entries) and replaces its rows by the
// overlay's committed ones: those matching match are added, and a row whose fold
// key the overlay holds is dropped. sorted: the result is ordered by path.
func (r reads) withOverlay(ctx context.Context, id string, match func(path, parent string) bool, sorted bool, query string, args ...any) ([]*index.Entry, error) {
	var out []*index.Entry
	g, err := r.j.pin(func(*jgen) error {
		var err error
		out, err = entries(ctx, r.Q(), query, args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	ov, folds := g.entries(id, -1, match)
	return overlaid(out, ov, folds, sorted), nil
}

// overlaid is rows with the rows whose fold key is in folds dropped and ov added;
// sorted keeps the result in path order.
func overlaid(rows, ov []*index.Entry, folds map[string]bool, sorted bool) []*index.Entry {
	if folds == nil {
		return rows
	}
	out := rows[:0]
	for _, e := range rows {
		if !folds[pathrule.FoldKey(e.Path)] {
			out = append(out, e)
		}
	}
	out = append(out, ov...)
	if sorted && len(ov) > 0 {
		slices.SortFunc(out, func(a, b *index.Entry) int { return strings.Compare(a.Path, b.Path) })
	}
	return out
}

// ChangeBounds implements index.Reader.
func (r reads) ChangeBounds(ctx context.Context, id string) (oldest, head int64, err error) {
	g, err := r.j.pin(func(*jgen) error {
		return r.Q().QueryRowContext(ctx, `SELECT coalesce((SELECT min(seq) FROM tenant_changes WHERE tenant_id = ?), 0), head_seq FROM tenants WHERE id = ?`,
			id, id).Scan(&oldest, &head)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, index.ErrNoTenant
	}
	if err == nil && oldest == 0 {
		oldest, _ = g.bounds(id, head)
	}
	return oldest, head, err
}

// ChangedAfter implements index.Reader.
func (r reads) ChangedAfter(ctx context.Context, id, p string, seq int64) (bool, error) {
	// The overlay first: a merge after it moves its rows where the queries look.
	if r.j.current().changedAfter(id, p, seq) {
		return true, nil
	}
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
	var out []index.DeletedFile
	last, read := after, 0
	g, err := r.j.pin(func(*jgen) error {
		var err error
		out, last, read, err = deletedRows(ctx, r.Q(), `SELECT v.path, v.fold, v.id, MAX(v.replaced_at), v.size, v.hash
		FROM tenant_versions v INDEXED BY tenant_versions_fold
		WHERE v.tenant_id = ? AND `+folds+` AND v.deleted = 1 AND v.replaced_at >= ? AND `+cond+`
		AND NOT EXISTS (SELECT 1 FROM tenant_entries e WHERE e.tenant_id = v.tenant_id AND e.fold = v.fold)
		GROUP BY v.fold ORDER BY v.fold LIMIT ?`, after, append(q, n)...)
		return err
	})
	if err != nil {
		return nil, "", false, err
	}
	// A path the overlay holds an entry of is not deleted.
	kept := out[:0]
	for _, e := range out {
		if _, ok := g.lookup(id, pathrule.FoldKey(e.Path), -1); !ok {
			kept = append(kept, e)
		}
	}
	return kept, last, read < n, nil
}

// deletedRows runs DeletedPage's query: the rows, the last fold key read (after if
// none) and how many rows it read.
func deletedRows(ctx context.Context, q querier, query, after string, args ...any) ([]index.DeletedFile, string, int, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", 0, err
	}
	defer rows.Close()
	out := []index.DeletedFile{}
	last := after
	for rows.Next() {
		var e index.DeletedFile
		var at int64
		if err := rows.Scan(&e.Path, &last, &e.Version, &at, &e.Size, &e.Hash); err != nil {
			return nil, "", 0, err
		}
		e.DeletedAt = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, last, len(out), rows.Err()
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
