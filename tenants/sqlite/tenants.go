package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/syncspace/syncspace/tenants/index"
)

var (
	_ index.Tenants  = (*Store)(nil)
	_ index.Recovery = (*Store)(nil)
)

// CreateTenant implements index.Tenants.
func (r *Store) CreateTenant(ctx context.Context, t index.Tenant, epoch string) error {
	defer r.LockWrites()()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tenants WHERE name = ?`, t.Name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return index.ErrTenantExists
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (name, id, quota, max_file_size, max_entries, created_at, epoch, head_seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0)`, t.Name, t.ID, t.Quota, t.MaxFileSize, t.MaxEntries, t.CreatedAt.UnixNano(), epoch); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteTenant implements index.Tenants: the tenant's rows in every table go with it
// (ON DELETE CASCADE).
func (r *Store) DeleteTenant(ctx context.Context, id string) error {
	unlock, err := r.lockMerged(ctx)
	if err != nil {
		return err
	}
	res, err := r.db.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id)
	unlock()
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return index.ErrNoTenant
	}
	return nil
}

const tenantCols = `name, id, quota, max_file_size, max_entries, created_at`

func scanTenant(sc interface{ Scan(...any) error }) (index.Tenant, error) {
	var t index.Tenant
	var created int64
	if err := sc.Scan(&t.Name, &t.ID, &t.Quota, &t.MaxFileSize, &t.MaxEntries, &created); err != nil {
		return index.Tenant{}, err
	}
	t.CreatedAt = time.Unix(0, created).UTC()
	return t, nil
}

// TenantByName implements index.Tenants.
func (r *Store) TenantByName(ctx context.Context, name string) (index.Tenant, error) {
	t, err := scanTenant(r.Q().QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return index.Tenant{}, index.ErrNoTenant
	}
	return t, err
}

// Tenants implements index.Tenants.
func (r *Store) Tenants(ctx context.Context) ([]index.Tenant, error) {
	rows, err := r.Q().QueryContext(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []index.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// LoadHead implements index.Recovery.
func (r *Store) LoadHead(ctx context.Context, id string) (epoch string, head, maxSeq int64, err error) {
	var max sql.NullInt64
	g, err := r.j.pin(func(*jgen) error {
		return r.db.QueryRowContext(ctx, `SELECT epoch, head_seq, (SELECT max(seq) FROM tenant_changes WHERE tenant_id = ?) FROM tenants WHERE id = ?`,
			id, id).Scan(&epoch, &head, &max)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, 0, index.ErrNoTenant
	}
	if _, last := g.bounds(id, head); last > max.Int64 {
		max.Int64 = last
	}
	return epoch, head, max.Int64, err
}

// SetHead implements index.Recovery.
func (r *Store) SetHead(ctx context.Context, id, epoch string, head int64) error {
	unlock, err := r.lockMerged(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = r.db.ExecContext(ctx, `UPDATE tenants SET epoch = ?, head_seq = ? WHERE id = ?`, epoch, head, id)
	return err
}

// Usage implements index.Recovery: the table's sums, with each entry the overlay
// holds counted as the overlay has it.
func (r *Store) Usage(ctx context.Context, id string) (used, entries int64, err error) {
	var ov []*index.Entry
	var replaced map[string]*index.Entry
	_, err = r.j.pin(func(g *jgen) error {
		if err := r.db.QueryRowContext(ctx, `SELECT coalesce(sum(CASE WHEN is_dir THEN 0 ELSE size END), 0), count(*) FROM tenant_entries WHERE tenant_id = ?`,
			id).Scan(&used, &entries); err != nil {
			return err
		}
		var folds map[string]bool
		ov, folds = g.entries(id, -1, func(string, string) bool { return true })
		replaced = map[string]*index.Entry{}
		keys := slices.Collect(maps.Keys(folds))
		for len(keys) > 0 {
			n := min(len(keys), 256)
			if err := lookupFolds(ctx, r.Q(), id, keys[:n], replaced); err != nil {
				return err
			}
			keys = keys[n:]
		}
		return nil
	})
	for _, e := range replaced {
		used, entries = used-fileBytes(e), entries-1
	}
	for _, e := range ov {
		used, entries = used+fileBytes(e), entries+1
	}
	return used, entries, err
}

// fileBytes is the bytes e counts in a tenant's usage.
func fileBytes(e *index.Entry) int64 {
	if e.IsDir {
		return 0
	}
	return e.Size
}

// VersionIDs implements index.Recovery.
func (r *Store) VersionIDs(ctx context.Context, id string) ([]string, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT id FROM tenant_versions WHERE tenant_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// DeleteVersionRows implements index.Recovery.
func (r *Store) DeleteVersionRows(ctx context.Context, id string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	defer r.LockWrites()()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, v := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tenant_versions WHERE tenant_id = ? AND id = ?`, id, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}
