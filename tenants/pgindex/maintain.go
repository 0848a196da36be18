package pgindex

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.Maintenance = (*Store)(nil)

// PruneUndo implements index.Maintenance.
func (s *Store) PruneUndo(ctx context.Context, id string, bound int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tenant_entry_undo WHERE tenant_id = $1 AND died <= $2`, id, bound)
	return err
}

// ClearUndo implements index.Maintenance.
func (s *Store) ClearUndo(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tenant_entry_undo WHERE tenant_id = $1`, id)
	return err
}

// PruneChanges implements index.Maintenance. It reads the heads without locking them:
// a head only moves forward, so a row behind an older head is behind the newer one.
func (s *Store) PruneChanges(ctx context.Context, keep int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tenant_changes c USING tenant_heads h
		WHERE h.tenant_id = c.tenant_id AND c.seq <= h.head_seq - $1`, keep)
	return err
}

// OldestVersions implements index.Maintenance.
func (s *Store) OldestVersions(ctx context.Context, id string, before time.Time, limit int) ([]index.VersionRef, error) {
	a := args{}
	where := "true"
	if id != "" {
		where = "v.tenant_id = " + a.p(id)
	}
	if !before.IsZero() {
		where += " AND v.replaced_at < " + a.p(before.UnixNano())
	}
	sql := `SELECT v.tenant_id, t.name, v.id FROM tenant_versions v JOIN tenants t ON t.id = v.tenant_id
		WHERE ` + where + ` ORDER BY v.replaced_at LIMIT ` + a.p(limit)
	rows, err := s.pool.Query(ctx, sql, a...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (index.VersionRef, error) {
		var v index.VersionRef
		err := r.Scan(&v.TenantID, &v.TenantName, &v.ID)
		return v, err
	})
}

// DeleteVersions implements index.Maintenance in one statement.
func (s *Store) DeleteVersions(ctx context.Context, refs []index.VersionRef) error {
	if len(refs) == 0 {
		return nil
	}
	tids, ids := make([]string, len(refs)), make([]string, len(refs))
	for i, v := range refs {
		tids[i], ids[i] = v.TenantID, v.ID
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM tenant_versions v USING unnest($1::text[], $2::text[]) AS r(tid, id)
		WHERE v.tenant_id = r.tid AND v.id = r.id`, tids, ids)
	return err
}
