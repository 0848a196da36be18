// Package sqliteshare is share's Store on SQLite: the auth_shares table of syncd.db.
// The caller opens the *sql.DB and closes it.
package sqliteshare

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/syncspace/syncspace/auth/share"
)

// Store implements share.Store on one *sql.DB.
type Store struct{ db *sql.DB }

var _ share.Store = (*Store)(nil)

// New creates the table when missing and returns the store.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqliteshare: nil database")
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS auth_shares (
			key           TEXT PRIMARY KEY,
			tenant        TEXT NOT NULL,
			tid           TEXT NOT NULL,
			path          TEXT NOT NULL,
			created_by    TEXT NOT NULL,
			created_at    INTEGER NOT NULL,
			expires_at    INTEGER NOT NULL,
			password_hash TEXT NOT NULL DEFAULT '',
			revoked_at    INTEGER,
			creator_jti   TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX IF NOT EXISTS auth_shares_tid ON auth_shares (tid, created_at)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("sqliteshare: create table: %w", err)
		}
	}
	if err := addCreatorJTI(ctx, db); err != nil {
		return nil, fmt.Errorf("sqliteshare: add creator_jti: %w", err)
	}
	return &Store{db: db}, nil
}

// addCreatorJTI adds the creator_jti column (session 25) to a table made before it;
// its links keep "" (their creator is then found by tenant id and subject, see
// share.RevokedFunc).
func addCreatorJTI(ctx context.Context, db *sql.DB) error {
	has := func() (bool, error) {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('auth_shares') WHERE name = 'creator_jti'`).Scan(&n)
		return n > 0, err
	}
	if ok, err := has(); err != nil || ok {
		return err
	}
	_, err := db.ExecContext(ctx, `ALTER TABLE auth_shares ADD COLUMN creator_jti TEXT NOT NULL DEFAULT ''`)
	if err != nil {
		if ok, herr := has(); herr == nil && ok {
			return nil // another process added it meanwhile
		}
	}
	return err
}

// AddShare inserts r.
func (s *Store) AddShare(ctx context.Context, r share.Record) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO auth_shares (key, tenant, tid, path, created_by, created_at, expires_at, password_hash, creator_jti)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Key, r.Tenant, r.TenantID, r.Path, r.CreatedBy, r.CreatedAt.Unix(), r.ExpiresAt.Unix(), r.PasswordHash, r.CreatorJTI)
	return err
}

const columns = `key, tenant, tid, path, created_by, created_at, expires_at, password_hash, revoked_at, creator_jti`

func scan(row interface{ Scan(...any) error }) (share.Record, error) {
	var (
		r                share.Record
		created, expires int64
		revoked          sql.NullInt64
	)
	if err := row.Scan(&r.Key, &r.Tenant, &r.TenantID, &r.Path, &r.CreatedBy, &created, &expires, &r.PasswordHash, &revoked, &r.CreatorJTI); err != nil {
		return r, err
	}
	r.CreatedAt, r.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	r.HasPassword = r.PasswordHash != ""
	if revoked.Valid {
		t := time.Unix(revoked.Int64, 0).UTC()
		r.RevokedAt = &t
	}
	return r, nil
}

// Share returns key's record or share.ErrNoRecord.
func (s *Store) Share(ctx context.Context, key string) (share.Record, error) {
	r, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM auth_shares WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return r, share.ErrNoRecord
	}
	return r, err
}

// Shares lists a tenant incarnation's records, newest first.
func (s *Store) Shares(ctx context.Context, tenantID string) ([]share.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM auth_shares WHERE tid = ? ORDER BY created_at DESC, key`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []share.Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RevokeShare marks key revoked (the first revocation time stays).
func (s *Store) RevokeShare(ctx context.Context, key string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE auth_shares SET revoked_at = coalesce(revoked_at, ?) WHERE key = ?`, at.Unix(), key)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return share.ErrNoRecord
	}
	return nil
}
