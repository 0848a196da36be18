package pgindex

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/pgdeadline"
)

var _ index.Maintenance = (*Store)(nil)

// PruneUndo implements index.Maintenance, unless the tenant's undo lease runs
// (index.ErrUndoHeld).
func (s *Store) PruneUndo(ctx context.Context, id string, bound int64) error {
	var held bool
	err := s.pool.QueryRow(ctx, `WITH h AS (SELECT coalesce((SELECT undo_until > now() FROM tenant_heads WHERE tenant_id = $1), false) AS held),
		d AS (DELETE FROM tenant_entry_undo WHERE tenant_id = $1 AND died <= $2 AND NOT (SELECT held FROM h))
		SELECT held FROM h`, id, bound).Scan(&held)
	if err == nil && held {
		return index.ErrUndoHeld
	}
	return err
}

// ClearUndo implements index.Maintenance: nothing while the tenant's undo lease runs.
func (s *Store) ClearUndo(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tenant_entry_undo WHERE tenant_id = $1
		AND NOT coalesce((SELECT undo_until > now() FROM tenant_heads WHERE tenant_id = $1), false)`, id)
	return err
}

// PruneChanges implements index.Maintenance. It reads the heads without locking them:
// a head only moves forward, so a row behind an older head is behind the newer one.
func (s *Store) PruneChanges(ctx context.Context, keep int64) error {
	// One statement for every tenant's backlog (a background job): unbounded.
	_, err := s.pool.Exec(pgdeadline.Unbounded(ctx), `DELETE FROM tenant_changes c USING tenant_heads h
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

// Ping implements index.Maintenance: the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

var _ index.HeadReader = (*Store)(nil)

// Heads implements index.HeadReader: the heads of many tenants in one query (the
// registry's once-a-second head check), with the counters every Write keeps exact.
func (s *Store) Heads(ctx context.Context, ids []string) (map[string]index.Head, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant_id, epoch, head_seq, used_bytes, entries FROM tenant_heads WHERE tenant_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]index.Head, len(ids))
	for rows.Next() {
		var id string
		var h index.Head
		if err := rows.Scan(&id, &h.Epoch, &h.Seq, &h.Used, &h.Entries); err != nil {
			return nil, err
		}
		out[id] = h
	}
	return out, rows.Err()
}
