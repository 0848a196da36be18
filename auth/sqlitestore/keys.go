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
	rows, err := s.db.QueryContext(ctx, `SELECT kid, public_key, created_at, retired_at FROM auth_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auth.KeyRecord
	for rows.Next() {
		var k auth.KeyRecord
		var created int64
		var retired *int64
		if err := rows.Scan(&k.KID, &k.PublicKey, &created, &retired); err != nil {
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
// strictly increasing in the INSERT itself.
func (s *Store) AddKey(ctx context.Context, k auth.KeyRecord) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO auth_keys(kid, public_key, created_at) VALUES(?, ?, max(?, coalesce((SELECT max(created_at)+1 FROM auth_keys), 0)))`,
		k.KID, k.PublicKey, k.CreatedAt.UnixNano())
	return err
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
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}
