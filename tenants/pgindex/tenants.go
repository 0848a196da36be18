package pgindex

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/pgdeadline"
)

var (
	_ index.Tenants  = (*Store)(nil)
	_ index.Recovery = (*Store)(nil)
)

// CreateTenant implements index.Tenants: the record and its head row in one statement.
func (s *Store) CreateTenant(ctx context.Context, t index.Tenant, epoch string) error {
	ct, err := s.pool.Exec(ctx, `WITH t AS (
			INSERT INTO tenants (id, name, quota, max_file_size, max_entries, created_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (name) DO NOTHING RETURNING id)
		INSERT INTO tenant_heads (tenant_id, epoch) SELECT id, $7 FROM t`,
		t.ID, t.Name, t.Quota, t.MaxFileSize, t.MaxEntries, t.CreatedAt.UnixNano(), epoch)
	if err != nil {
		return err
	}
	if ct.RowsAffected() == 0 {
		return index.ErrTenantExists
	}
	return nil
}

// DeleteTenant implements index.Tenants: the tenant's rows in every table go with it
// (ON DELETE CASCADE); it waits for a write of the tenant in progress (its head row
// lock).
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	// Its rows cascade: as long as the tenant is large, and no upload waits for it.
	ct, err := s.pool.Exec(pgdeadline.Unbounded(ctx), `DELETE FROM tenants WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if ct.RowsAffected() == 0 {
		return index.ErrNoTenant
	}
	return nil
}

const tenantCols = `name, id, quota, max_file_size, max_entries, created_at`

func scanTenant(r pgx.Row) (index.Tenant, error) {
	var t index.Tenant
	var created int64
	if err := r.Scan(&t.Name, &t.ID, &t.Quota, &t.MaxFileSize, &t.MaxEntries, &created); err != nil {
		return index.Tenant{}, err
	}
	t.CreatedAt = time.Unix(0, created).UTC()
	return t, nil
}

// TenantByName implements index.Tenants.
func (s *Store) TenantByName(ctx context.Context, name string) (index.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return index.Tenant{}, index.ErrNoTenant
	}
	return t, err
}

// Tenants implements index.Tenants. Names are ordered bytewise, as on SQLite.
func (s *Store) Tenants(ctx context.Context) ([]index.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index.Tenant, error) { return scanTenant(r) })
	if out == nil && err == nil {
		out = []index.Tenant{}
	}
	return out, err
}

// LoadHead implements index.Recovery.
func (s *Store) LoadHead(ctx context.Context, id string) (epoch string, head, maxSeq int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT epoch, head_seq, coalesce((SELECT max(seq) FROM tenant_changes WHERE tenant_id = $1), 0)
		FROM tenant_heads WHERE tenant_id = $1`, id).Scan(&epoch, &head, &maxSeq)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, 0, index.ErrNoTenant
	}
	return epoch, head, maxSeq, err
}

// SetHead implements index.Recovery. It waits for a write in progress (the row lock);
// a caller on one node of several should only move the head forward.
func (s *Store) SetHead(ctx context.Context, id, epoch string, head int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE tenant_heads SET epoch = $2, head_seq = $3 WHERE tenant_id = $1`, id, epoch, head)
	return err
}

// NewEpochs starts a new epoch for every tenant, keeping each head seq: what clients
// saw before is another history, so they resynchronise (resync_required) instead of
// trusting seqs that may be handed out again, as after a restore of the database from
// an older backup. Each tenant gets its own random epoch. It returns how many tenants
// it changed. Running nodes follow within about a second (their head check). The
// schema migrations must have been applied.
func NewEpochs(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	tag, err := pool.Exec(ctx, `UPDATE tenant_heads SET epoch = replace(gen_random_uuid()::text, '-', '')`)
	if err != nil {
		return 0, fmt.Errorf("pgindex: new epochs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Usage implements index.Recovery: the bytes and entries counted from the entries.
// When the head row's counters differ (a bug, or rows written by hand), they are
// repaired under the row's lock.
func (s *Store) Usage(ctx context.Context, id string) (used, entries int64, err error) {
	var hUsed, hEntries *int64
	if err := s.pool.QueryRow(ctx, `SELECT e.used, e.n, h.used_bytes, h.entries
		FROM (SELECT `+fileBytes+` AS used, count(*) AS n FROM tenant_entries WHERE tenant_id = $1) e
		LEFT JOIN tenant_heads h ON h.tenant_id = $1`, id).Scan(&used, &entries, &hUsed, &hEntries); err != nil {
		return 0, 0, err
	}
	if hUsed == nil || (*hUsed == used && *hEntries == entries) {
		return used, entries, nil
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM tenant_heads WHERE tenant_id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT `+fileBytes+`, count(*) FROM tenant_entries WHERE tenant_id = $1`, id).Scan(&used, &entries); err != nil {
			return err
		}
		ct, err := tx.Exec(ctx, `UPDATE tenant_heads SET used_bytes = $2, entries = $3 WHERE tenant_id = $1 AND (used_bytes <> $2 OR entries <> $3)`,
			id, used, entries)
		if err == nil && ct.RowsAffected() > 0 {
			s.log.Warn("tenant head counters repaired", "tenant", id, "used_bytes", used, "entries", entries)
		}
		return err
	})
	return used, entries, err
}

// VersionIDs implements index.Recovery.
func (s *Store) VersionIDs(ctx context.Context, id string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM tenant_versions WHERE tenant_id = $1`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DeleteVersionRows implements index.Recovery.
func (s *Store) DeleteVersionRows(ctx context.Context, id string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM tenant_versions WHERE tenant_id = $1 AND id = ANY($2)`, id, ids)
	return err
}
