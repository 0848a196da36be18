package sqlite

import (
	"context"
	"time"

	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.Maintenance = (*Store)(nil)

// PruneUndo implements index.Maintenance.
func (r *Store) PruneUndo(ctx context.Context, id string, bound int64) error {
	defer r.LockWrites()()
	_, err := r.db.ExecContext(ctx, `DELETE FROM tenant_entry_undo WHERE tenant_id = ? AND died <= ?`, id, bound)
	return err
}

// ClearUndo implements index.Maintenance.
func (r *Store) ClearUndo(ctx context.Context, id string) error {
	defer r.LockWrites()()
	_, err := r.db.ExecContext(ctx, `DELETE FROM tenant_entry_undo WHERE tenant_id = ?`, id)
	return err
}

// PruneChanges implements index.Maintenance.
func (r *Store) PruneChanges(ctx context.Context, keep int64) error {
	unlock, err := r.lockMerged(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = r.db.ExecContext(ctx, `DELETE FROM tenant_changes WHERE seq <= (SELECT t.head_seq FROM tenants t WHERE t.id = tenant_changes.tenant_id) - ?`, keep)
	return err
}

// OldestVersions implements index.Maintenance.
func (r *Store) OldestVersions(ctx context.Context, id string, before time.Time, limit int) ([]index.VersionRef, error) {
	where, args := "1", []any{}
	if id != "" {
		where, args = "v.tenant_id = ?", append(args, id)
	}
	if !before.IsZero() {
		where, args = where+" AND v.replaced_at < ?", append(args, before.UnixNano())
	}
	rows, err := r.db.QueryContext(ctx, `SELECT v.tenant_id, t.name, v.id FROM tenant_versions v JOIN tenants t ON t.id = v.tenant_id
		WHERE `+where+` ORDER BY v.replaced_at LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []index.VersionRef
	for rows.Next() {
		var v index.VersionRef
		if err := rows.Scan(&v.TenantID, &v.TenantName, &v.ID); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// DeleteVersions implements index.Maintenance.
func (r *Store) DeleteVersions(ctx context.Context, refs []index.VersionRef) error {
	defer r.LockWrites()()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, v := range refs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tenant_versions WHERE tenant_id = ? AND id = ?`, v.TenantID, v.ID); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Maintain implements index.Maintenance: it truncates an oversized WAL.
func (r *Store) Maintain(ctx context.Context) { r.CheckpointWAL(ctx) }

// Ping checks that the database answers.
func (r *Store) Ping(ctx context.Context) error { return r.db.PingContext(ctx) }
