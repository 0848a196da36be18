package pgindex

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.Reader = (*Store)(nil)

const entryCols = `path, is_dir, size, hash, modified, seq`

func scanEntry(r pgx.Row) (*index.Entry, error) {
	var e index.Entry
	var mod int64
	if err := r.Scan(&e.Path, &e.IsDir, &e.Size, &e.Hash, &mod, &e.Seq); err != nil {
		return nil, err
	}
	e.Modified = time.Unix(0, mod).UTC()
	return &e, nil
}

func lookup(ctx context.Context, q querier, id, p string) (*index.Entry, error) {
	e, err := scanEntry(q.QueryRow(ctx, `SELECT `+entryCols+` FROM tenant_entries WHERE tenant_id = $1 AND fold = $2`, id, pathrule.FoldKey(p)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return e, err
}

// entries runs a query of entryCols rows.
func entries(ctx context.Context, q querier, sql string, a ...any) ([]*index.Entry, error) {
	rows, err := q.Query(ctx, sql, a...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*index.Entry, error) { return scanEntry(r) })
}

// Lookup implements index.Reader.
func (s *Store) Lookup(ctx context.Context, id, p string) (*index.Entry, error) {
	return lookup(ctx, s.pool, id, p)
}

// LookupMany implements index.Reader in one query.
func (s *Store) LookupMany(ctx context.Context, id string, paths []string) (map[string]*index.Entry, error) {
	out := make(map[string]*index.Entry, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	folds := make([]string, len(paths))
	for i, p := range paths {
		folds[i] = pathrule.FoldKey(p)
	}
	rows, err := s.pool.Query(ctx, `SELECT fold, `+entryCols+` FROM tenant_entries WHERE tenant_id = $1 AND fold = ANY($2)`, id, folds)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e index.Entry
		var fold string
		var mod int64
		if err := rows.Scan(&fold, &e.Path, &e.IsDir, &e.Size, &e.Hash, &mod, &e.Seq); err != nil {
			return nil, err
		}
		e.Modified = time.Unix(0, mod).UTC()
		out[fold] = &e
	}
	return out, rows.Err()
}

// Children implements index.Reader.
func (s *Store) Children(ctx context.Context, id, dir string) ([]*index.Entry, error) {
	return entries(ctx, s.pool, `SELECT `+entryCols+` FROM tenant_entries WHERE tenant_id = $1 AND parent = $2`, id, dir)
}

// Subtree implements index.Reader.
func (s *Store) Subtree(ctx context.Context, id, dir string) ([]*index.Entry, error) {
	a := args{id}
	sql := `SELECT ` + entryCols + ` FROM tenant_entries WHERE tenant_id = $1 AND ` + a.under("path", dir) + ` ORDER BY path`
	return entries(ctx, s.pool, sql, a...)
}

// ChangeBounds implements index.Reader.
func (s *Store) ChangeBounds(ctx context.Context, id string) (oldest, head int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT min(seq) FROM tenant_changes WHERE tenant_id = $1), 0), head_seq
		FROM tenant_heads WHERE tenant_id = $1`, id).Scan(&oldest, &head)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, index.ErrNoTenant
	}
	return oldest, head, err
}

// ChangedAfter implements index.Reader in one query: an event after seq on p or under
// it, or a Delete or Move of one of p's ancestors.
func (s *Store) ChangedAfter(ctx context.Context, id, p string, seq int64) (bool, error) {
	a := args{id, seq}
	cond := "true"
	if p != "" {
		var ancestors []string
		for d := pathrule.Parent(p); d != ""; d = pathrule.Parent(d) {
			ancestors = append(ancestors, d)
		}
		cond = tree(&a, "path", p) + ` OR ` + tree(&a, "from_path", p)
		if len(ancestors) > 0 {
			anc := a.p(ancestors)
			cond += ` OR (op IN ('Delete', 'Move') AND (path = ANY(` + anc + `) OR from_path = ANY(` + anc + `)))`
		}
	}
	sql := `SELECT EXISTS (SELECT 1 FROM tenant_changes WHERE tenant_id = $1 AND seq > $2 AND (` + cond + `))`
	var changed bool
	err := s.pool.QueryRow(ctx, sql, a...).Scan(&changed)
	return changed, err
}

// nanos is t in Unix ns, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Versions implements index.Reader.
func (s *Store) Versions(ctx context.Context, id, p string, since time.Time) ([]protocol.Version, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, size, hash, modified, replaced_at FROM tenant_versions
		WHERE tenant_id = $1 AND fold = $2 AND replaced_at >= $3 ORDER BY replaced_at DESC, id`, id, pathrule.FoldKey(p), nanos(since))
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (protocol.Version, error) {
		var v protocol.Version
		var mod, at int64
		err := r.Scan(&v.ID, &v.Size, &v.Hash, &mod, &at)
		v.Modified, v.ReplacedAt = time.Unix(0, mod).UTC(), time.Unix(0, at).UTC()
		return v, err
	})
	if out == nil && err == nil {
		out = []protocol.Version{}
	}
	return out, err
}

// DeletedPage implements index.Reader: per fold key, the newest deleted version, up
// to n fold keys. PostgreSQL reads tenant_versions_fold in order and sorts each fold
// key's few rows (incremental sort): a page reads only its own rows.
func (s *Store) DeletedPage(ctx context.Context, id, dir string, since time.Time, after string, n int) ([]index.DeletedFile, string, bool, error) {
	a := args{id, nanos(since)}
	var folds string
	if dir == "" {
		folds = "v.fold > " + a.p(after)
	} else { // the subtree is a fold-key range too (tenants/sqlite.DeletedPage)
		fd := pathrule.FoldKey(dir)
		folds = "v.fold > " + a.p(max(after, fd+"/")) + " AND v.fold < " + a.p(fd+"0")
	}
	sql := `SELECT DISTINCT ON (v.fold) v.path, v.fold, v.id, v.replaced_at, v.size, v.hash FROM tenant_versions v
		WHERE v.tenant_id = $1 AND v.deleted AND v.replaced_at >= $2 AND ` + folds + ` AND ` + a.under("v.path", dir) + `
		AND NOT EXISTS (SELECT 1 FROM tenant_entries e WHERE e.tenant_id = v.tenant_id AND e.fold = v.fold)
		ORDER BY v.fold, v.replaced_at DESC LIMIT ` + a.p(n)
	rows, err := s.pool.Query(ctx, sql, a...)
	if err != nil {
		return nil, "", false, err
	}
	last := after
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index.DeletedFile, error) {
		var e index.DeletedFile
		var at int64
		err := r.Scan(&e.Path, &last, &e.Version, &at, &e.Size, &e.Hash)
		e.DeletedAt = time.Unix(0, at).UTC()
		return e, err
	})
	if err != nil {
		return nil, "", false, err
	}
	if out == nil {
		out = []index.DeletedFile{}
	}
	return out, last, len(out) < n, nil
}

// Version implements index.Reader.
func (s *Store) Version(ctx context.Context, id, versionID, p string) (protocol.Metadata, error) {
	m := protocol.Metadata{Path: p}
	var mod int64
	err := s.pool.QueryRow(ctx, `SELECT size, hash, modified FROM tenant_versions WHERE tenant_id = $1 AND id = $2 AND fold = $3`,
		id, versionID, pathrule.FoldKey(p)).Scan(&m.Size, &m.Hash, &mod)
	if errors.Is(err, pgx.ErrNoRows) {
		return protocol.Metadata{}, index.ErrNoVersion
	}
	m.Modified = time.Unix(0, mod).UTC()
	return m, err
}
