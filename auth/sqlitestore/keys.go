package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/syncspace/syncspace/auth"
)

// Keys implements auth.KeyStore.
func (s *Store) Keys(ctx context.Context) ([]auth.KeyRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT k.kid, k.public_key, s.sealed, k.created_at, k.retired_at
		FROM auth_keys k LEFT JOIN auth_keys_sealed s ON s.kid = k.kid ORDER BY k.created_at, k.kid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auth.KeyRecord
	for rows.Next() {
		var k auth.KeyRecord
		var created int64
		var retired *int64
		if err := rows.Scan(&k.KID, &k.PublicKey, &k.Sealed, &created, &retired); err != nil {
			return nil, err
		}
		k.CreatedAt = time.Unix(0, created).UTC()
		if retired != nil {
			t := time.Unix(0, *retired).UTC()
			k.RetiredAt = &t
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddKey implements auth.KeyStore. Creation times are kept in nanoseconds and made
// strictly increasing in the INSERT itself; a sealed half goes in the same
// transaction.
func (s *Store) AddKey(ctx context.Context, k auth.KeyRecord) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO auth_keys(kid, public_key, created_at) VALUES(?, ?, max(?, coalesce((SELECT max(created_at)+1 FROM auth_keys), 0)))`,
		k.KID, k.PublicKey, k.CreatedAt.UnixNano()); err != nil {
		return err
	}
	if len(k.Sealed) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_keys_sealed(kid, sealed) VALUES(?, ?)`, k.KID, k.Sealed); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// RetireKey implements auth.KeyStore, in one transaction.
func (s *Store) RetireKey(ctx context.Context, kid string, at time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var retired *int64
	err = tx.QueryRowContext(ctx, `SELECT retired_at FROM auth_keys WHERE kid = ?`, kid).Scan(&retired)
	if errors.Is(err, sql.ErrNoRows) {
		return false, auth.ErrNoRecord
	}
	if err != nil {
		return false, err
	}
	if retired != nil {
		return false, nil
	}
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM auth_keys WHERE retired_at IS NULL AND kid <> ?`, kid).Scan(&others); err != nil {
		return false, err
	}
	if others == 0 {
		return false, auth.ErrLastLiveKey
	}
	if _, err := tx.ExecContext(ctx, `UPDATE auth_keys SET retired_at = ? WHERE kid = ?`, at.UnixNano(), kid); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM auth_keys_sealed WHERE kid = ?`, kid); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}
