package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/auth"
)

// Device times are kept in nanoseconds.

const deviceColumns = `id, name, tenant, tid, subject, role, thumbprint, created_at, expires_at, last_used_at, last_address, revoked_at`

func scanDevice(row pgx.Row) (auth.DeviceRecord, error) {
	var d auth.DeviceRecord
	var created, exp int64
	var used, rev *int64
	err := row.Scan(&d.ID, &d.Name, &d.Tenant, &d.TenantID, &d.Subject, &d.Role, &d.CertThumbprint, &created, &exp, &used, &d.LastAddress, &rev)
	d.CreatedAt, d.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, exp).UTC()
	d.LastUsedAt, d.RevokedAt = fromNanos(used), fromNanos(rev)
	return d, err
}

// deviceNameLock is the first key of the transaction-scoped advisory lock AddDevice
// takes on a (tenant id, device name); the second is a hash of the pair. The
// two-key space does not overlap the migrations' one-key lock.
const deviceNameLock = 0x64657631 // "dev1"

// AddDevice implements auth.DeviceStore. Under READ COMMITTED a NOT EXISTS check
// alone would let racing enrolments all pass, so the transaction first takes an
// advisory lock on the name (held until it ends, on every node): the next enrolment
// of that name waits, then sees the committed row.
func (s *Store) AddDevice(ctx context.Context, d auth.DeviceRecord, first auth.RefreshRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))`, deviceNameLock, d.TenantID, d.Name); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO auth_devices (`+deviceColumns+`) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
			WHERE NOT EXISTS (SELECT 1 FROM auth_devices WHERE tid = $4 AND name = $2 AND revoked_at IS NULL AND expires_at > $8)`,
			d.ID, d.Name, d.Tenant, d.TenantID, d.Subject, d.Role, d.CertThumbprint, d.CreatedAt.UnixNano(), d.ExpiresAt.UnixNano(),
			nanos(d.LastUsedAt), d.LastAddress, nanos(d.RevokedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrDeviceNameTaken
		}
		return insertRefresh(ctx, tx, first)
	})
}

func insertRefresh(ctx context.Context, tx pgx.Tx, r auth.RefreshRecord) error {
	_, err := tx.Exec(ctx, `INSERT INTO auth_refresh (hash, device_id, issued_at) VALUES ($1, $2, $3)`, r.Hash, r.DeviceID, r.IssuedAt.UnixNano())
	return err
}

// Device implements auth.DeviceStore.
func (s *Store) Device(ctx context.Context, id string) (auth.DeviceRecord, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM auth_devices WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.DeviceRecord{}, auth.ErrNoRecord
	}
	return d, err
}

// Devices implements auth.DeviceStore.
func (s *Store) Devices(ctx context.Context, tenant string) ([]auth.DeviceRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceColumns+` FROM auth_devices WHERE $1 = '' OR tenant = $1 ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.DeviceRecord, error) { return scanDevice(row) })
}

// RefreshSecret implements auth.DeviceStore.
func (s *Store) RefreshSecret(ctx context.Context, hash string) (auth.RefreshRecord, error) {
	var r auth.RefreshRecord
	var issued int64
	var used *int64
	err := s.pool.QueryRow(ctx, `SELECT hash, device_id, issued_at, used_at, successor, access_jti, sealed FROM auth_refresh WHERE hash = $1`, hash).
		Scan(&r.Hash, &r.DeviceID, &issued, &used, &r.Successor, &r.AccessJTI, &r.Sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.RefreshRecord{}, auth.ErrNoRecord
	}
	r.IssuedAt, r.UsedAt = time.Unix(0, issued).UTC(), fromNanos(used)
	return r, err
}

// Rotate implements auth.DeviceStore in one transaction. The conditional UPDATE takes
// the secret's row lock: of racing redemptions, the first wins, and the others, once
// it commits, find the secret used.
func (s *Store) Rotate(ctx context.Context, old string, next auth.RefreshRecord, accessJTI string, sealed []byte, use auth.DeviceUse) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth_refresh SET used_at = $2, successor = $3, access_jti = $4, sealed = $5 WHERE hash = $1 AND used_at IS NULL`,
			old, use.At.UnixNano(), next.Hash, accessJTI, sealed)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM auth_refresh WHERE hash = $1`, old).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
				return auth.ErrNoRecord
			}
			return auth.ErrSecretUsed
		}
		if err := insertRefresh(ctx, tx, next); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE auth_refresh SET sealed = NULL WHERE successor = $1`, old)
		b.Queue(`UPDATE auth_devices SET last_used_at = $2, last_address = $3, expires_at = $4 WHERE id = $1`,
			next.DeviceID, use.At.UnixNano(), use.Address, use.ExpiresAt.UnixNano())
		return tx.SendBatch(ctx, b).Close()
	})
}

// SettleAccess implements auth.DeviceStore.
func (s *Store) SettleAccess(ctx context.Context, jti string) error {
	_, err := s.pool.Exec(ctx, `UPDATE auth_refresh SET sealed = NULL WHERE access_jti = $1 AND sealed IS NOT NULL`, jti)
	return err
}

// PruneRefresh implements auth.DeviceStore.
func (s *Store) PruneRefresh(ctx context.Context, now, spentBefore time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM auth_refresh WHERE (used_at IS NOT NULL AND used_at < $1)
		OR device_id IN (SELECT id FROM auth_devices WHERE revoked_at IS NOT NULL OR expires_at <= $2)`,
		spentBefore.UnixNano(), now.UnixNano())
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// RevokeDevice implements auth.DeviceStore.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE auth_devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, at.UnixNano())
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() > 0 {
		return true, nil
	}
	if _, err := s.Device(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}
