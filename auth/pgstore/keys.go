package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/auth"
)

// lockKeys serializes the transactions that add or retire keys (readers are not
// blocked), so that creation times stay strictly increasing and two nodes retiring
// the last two live keys at once cannot both succeed.
const lockKeys = `LOCK TABLE auth_keys IN EXCLUSIVE MODE`

// Keys implements auth.KeyStore.
func (s *Store) Keys(ctx context.Context) ([]auth.KeyRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT kid, public_key, private_enc, created_at, retired_at FROM auth_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.KeyRecord, error) {
		var k auth.KeyRecord
		var created int64
		var retired *int64
		err := row.Scan(&k.KID, &k.PublicKey, &k.Sealed, &created, &retired)
		k.CreatedAt, k.RetiredAt = time.Unix(0, created).UTC(), fromNanos(retired)
		return k, err
	})
}

// AddKey implements auth.KeyStore: the creation time is made strictly increasing in
// the INSERT itself, under the key table's lock. An empty Sealed is kept as NULL.
func (s *Store) AddKey(ctx context.Context, k auth.KeyRecord) error {
	var sealed []byte
	if len(k.Sealed) > 0 {
		sealed = k.Sealed
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockKeys); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth_keys (kid, public_key, private_enc, created_at)
			SELECT $1, $2, $3, greatest($4::bigint, coalesce(max(created_at) + 1, 0)) FROM auth_keys`,
			k.KID, k.PublicKey, sealed, k.CreatedAt.UnixNano())
		return err
	})
}

// RetireKey implements auth.KeyStore in one transaction under the key table's lock;
// the sealed private half is dropped with the retirement.
func (s *Store) RetireKey(ctx context.Context, kid string, at time.Time) (retired bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockKeys); err != nil {
			return err
		}
		var was *int64
		err := tx.QueryRow(ctx, `SELECT retired_at FROM auth_keys WHERE kid = $1`, kid).Scan(&was)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrNoRecord
		}
		if err != nil || was != nil {
			return err
		}
		var others int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth_keys WHERE retired_at IS NULL AND kid <> $1`, kid).Scan(&others); err != nil {
			return err
		}
		if others == 0 {
			return auth.ErrLastLiveKey
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_keys SET retired_at = $2, private_enc = NULL WHERE kid = $1`, kid, at.UnixNano()); err != nil {
			return err
		}
		retired = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return retired, nil
}
