package clusterimport

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"time"

	"github.com/syncspace/syncspace/cmd/internal/node"
	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/rootblobs"
)

// source reads the single-node index's tables as they are (the columns of
// pgindex.ImportRows; SQLite keeps booleans as 0/1).
type source struct{ db *sql.DB }

// tenants returns every tenant with its index rows.
func (s *source) tenants(ctx context.Context) ([]pgindex.ImportRows, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, id, quota, max_file_size, max_entries, created_at, epoch, head_seq FROM tenants ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read tenants: %w", err)
	}
	var out []pgindex.ImportRows
	for rows.Next() {
		var r pgindex.ImportRows
		var created int64
		t := &r.Tenant
		if err := rows.Scan(&t.Name, &t.ID, &t.Quota, &t.MaxFileSize, &t.MaxEntries, &created, &r.Epoch, &r.Head); err != nil {
			rows.Close()
			return nil, err
		}
		t.CreatedAt = time.Unix(0, created).UTC()
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.load(ctx, &out[i]); err != nil {
			return nil, fmt.Errorf("read tenant %s: %w", out[i].Tenant.Name, err)
		}
	}
	return out, nil
}

// load reads r's entries, change log and versions.
func (s *source) load(ctx context.Context, r *pgindex.ImportRows) (err error) {
	id := r.Tenant.ID
	if r.Entries, err = s.rows(ctx, "tenant_entries", pgindex.EntryCols, id, 3); err != nil {
		return err
	}
	if r.Changes, err = s.rows(ctx, "tenant_changes", pgindex.ChangeCols, id, 4); err != nil {
		return err
	}
	r.Versions, err = s.rows(ctx, "tenant_versions", pgindex.VersionCols, id, 7)
	return err
}

// rows reads cols of the tenant's rows of table; column boolCol is 0/1 in SQLite.
func (s *source) rows(ctx context.Context, table string, cols []string, id string, boolCol int) ([][]any, error) {
	q := "SELECT "
	for i, c := range cols {
		if i > 0 {
			q += ", "
		}
		q += c
	}
	rows, err := s.db.QueryContext(ctx, q+" FROM "+table+" WHERE tenant_id = ?", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		vals[boolCol] = asInt(vals[boolCol]) != 0
		out = append(out, vals)
	}
	return out, rows.Err()
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

// importTenant copies t's content (files and versions, each hash once), then its index
// rows in one transaction.
func importTenant(ctx context.Context, src *source, files *rootblobs.Store, dst *node.ClusterTarget, t pgindex.ImportRows, rep *Report) error {
	bt := blob.Tenant{Name: t.Tenant.Name, ID: t.Tenant.ID}
	from, err := files.Open(bt)
	if err != nil {
		return err
	}
	if c, ok := from.(io.Closer); ok {
		defer c.Close()
	}
	if err := dst.Blobs.Create(bt); err != nil {
		return err
	}
	to, err := dst.Blobs.Open(bt)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, e := range t.Entries { // fold, path, parent, is_dir, size, hash, …
		if e[3].(bool) || done[e[5].(string)] {
			continue
		}
		if err := copyBlob(from.Open, to, e[1].(string), e[5].(string)); err != nil {
			return err
		}
		done[e[5].(string)] = true
		rep.Files++
	}
	for _, v := range t.Versions { // id, path, fold, size, hash, …
		if done[v[4].(string)] {
			continue
		}
		if err := copyBlob(from.OpenVersion, to, v[0].(string), v[4].(string)); err != nil {
			return err
		}
		done[v[4].(string)] = true
	}
	if err := pgindex.Import(ctx, dst.Pool, t); err != nil {
		return err
	}
	rep.Tenants++
	rep.Changes += len(t.Changes)
	rep.Versions += len(t.Versions)
	return nil
}

// copyBlob stores the content open(name, hash) reads under hash in to.
func copyBlob(open func(string, string) (io.ReadSeekCloser, error), to blob.Content, name, hash string) error {
	r, err := open(name, hash)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer r.Close()
	tmp := "import-" + hash
	w, err := to.CreateTemp(tmp)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		_, err = to.Batch().Place(tmp, name, hash, "", "", false)
	}
	if err != nil {
		_ = to.RemoveTemp(tmp)
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}
