// Package pgshare is share's Store on PostgreSQL (cluster mode): the auth_shares table
// of tenants/pgschema. The caller owns the pool and applies the schema.
package pgshare

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth/share"
)

// Store implements share.Store on a pool.
type Store struct{ pool *pgxpool.Pool }

var _ share.Store = (*Store)(nil)

// New returns the store on pool.
func New(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgshare: nil pool")
	}
	return &Store{pool: pool}, nil
}

// AddShare inserts r.
func (s *Store) AddShare(ctx context.Context, r share.Record) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_shares (key, tenant, tid, path, created_by, created_at, expires_at, password_hash, creator_jti)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.Key, r.Tenant, r.TenantID, r.Path, r.CreatedBy, r.CreatedAt.Unix(), r.ExpiresAt.Unix(), r.PasswordHash, r.CreatorJTI)
	return err
}

const columns = `key, tenant, tid, path, created_by, created_at, expires_at, password_hash, revoked_at, creator_jti`

func scan(row pgx.Row) (share.Record, error) {
	var (
		r                share.Record
		created, expires int64
		revoked          *int64
	)
	if err := row.Scan(&r.Key, &r.Tenant, &r.TenantID, &r.Path, &r.CreatedBy, &created, &expires, &r.PasswordHash, &revoked, &r.CreatorJTI); err != nil {
		return r, err
	}
	r.CreatedAt, r.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	r.HasPassword = r.PasswordHash != ""
	if revoked != nil {
		t := time.Unix(*revoked, 0).UTC()
		r.RevokedAt = &t
	}
	return r, nil
}

// Share returns key's record or share.ErrNoRecord.
func (s *Store) Share(ctx context.Context, key string) (share.Record, error) {
	r, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM auth_shares WHERE key = $1`, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, share.ErrNoRecord
	}
	return r, err
}

// Shares lists a tenant incarnation's records, newest first.
func (s *Store) Shares(ctx context.Context, tenantID string) ([]share.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM auth_shares WHERE tid = $1 ORDER BY created_at DESC, key`, tenantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (share.Record, error) { return scan(row) })
}

// RevokeShare marks key revoked (the first revocation time stays).
func (s *Store) RevokeShare(ctx context.Context, key string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE auth_shares SET revoked_at = coalesce(revoked_at, $1) WHERE key = $2`, at.Unix(), key)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return share.ErrNoRecord
	}
	return nil
}
