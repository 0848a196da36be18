package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/syncspace/syncspace/auth"
)

// Device times are kept in nanoseconds.

var deviceSchema = []string{
	`CREATE TABLE IF NOT EXISTS auth_devices (
		id           TEXT PRIMARY KEY,
		name         TEXT NOT NULL,
		tenant       TEXT NOT NULL,
		tid          TEXT NOT NULL,
		subject      TEXT NOT NULL,
		role         TEXT NOT NULL,
		thumbprint   TEXT NOT NULL DEFAULT '',
		created_at   INTEGER NOT NULL,
		expires_at   INTEGER NOT NULL,
		last_used_at INTEGER,
		last_address TEXT NOT NULL DEFAULT '',
		revoked_at   INTEGER
	)`,
	`CREATE TABLE IF NOT EXISTS auth_refresh (
		hash       TEXT PRIMARY KEY,
		device_id  TEXT NOT NULL REFERENCES auth_devices(id),
		issued_at  INTEGER NOT NULL,
		used_at    INTEGER,
		successor  TEXT NOT NULL DEFAULT '',
		access_jti TEXT NOT NULL DEFAULT '',
		sealed     BLOB
	)`,
	`CREATE INDEX IF NOT EXISTS auth_refresh_successor ON auth_refresh(successor)`,
	`CREATE INDEX IF NOT EXISTS auth_refresh_access ON auth_refresh(access_jti)`,
	// AddDevice's name check; not unique: a database may hold duplicates enrolled
	// before that check was atomic (they stay as they are).
	`CREATE INDEX IF NOT EXISTS auth_devices_name ON auth_devices(tid, name)`,
}

// addColumn adds column (with its SQL type) to table when a database created before
// it lacks it.
func addColumn(ctx context.Context, db *sql.DB, table, column, typ string) error {
	if _, err := db.ExecContext(ctx, `SELECT `+column+` FROM `+table+` LIMIT 0`); err == nil {
		return nil
	} else if !strings.Contains(err.Error(), "no such column") {
		return err
	}
	_, err := db.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+column+` `+typ)
	if err != nil && strings.Contains(err.Error(), "duplicate column") {
		return nil // another process added it first
	}
	return err
}

func nanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := time.Unix(0, *n).UTC()
	return &t
}

const deviceColumns = `id, name, tenant, tid, subject, role, thumbprint, created_at, expires_at, last_used_at, last_address, revoked_at`

func scanDevice(sc interface{ Scan(...any) error }) (auth.DeviceRecord, error) {
	var d auth.DeviceRecord
	var created, exp int64
	var used, rev *int64
	err := sc.Scan(&d.ID, &d.Name, &d.Tenant, &d.TenantID, &d.Subject, &d.Role, &d.CertThumbprint, &created, &exp, &used, &d.LastAddress, &rev)
	d.CreatedAt, d.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, exp).UTC()
	d.LastUsedAt, d.RevokedAt = fromNanos(used), fromNanos(rev)
	return d, err
}

// AddDevice implements auth.DeviceStore. The name check and the insert are one
// statement, the transaction's first: SQLite takes the write lock before that
// statement reads, so no other writer (of any process) slips in between.
func (s *Store) AddDevice(ctx context.Context, d auth.DeviceRecord, first auth.RefreshRecord) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO auth_devices(`+deviceColumns+`) SELECT ?,?,?,?,?,?,?,?,?,?,?,?
		WHERE NOT EXISTS (SELECT 1 FROM auth_devices WHERE tid = ? AND name = ? AND revoked_at IS NULL AND expires_at > ?)`,
		d.ID, d.Name, d.Tenant, d.TenantID, d.Subject, d.Role, d.CertThumbprint, d.CreatedAt.UnixNano(), d.ExpiresAt.UnixNano(),
		nanos(d.LastUsedAt), d.LastAddress, nanos(d.RevokedAt), d.TenantID, d.Name, d.CreatedAt.UnixNano())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return auth.ErrDeviceNameTaken
	}
	if err := insertRefresh(ctx, tx, first); err != nil {
		return err
	}
	return tx.Commit()
}

func insertRefresh(ctx context.Context, tx *sql.Tx, r auth.RefreshRecord) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO auth_refresh(hash, device_id, issued_at) VALUES(?,?,?)`, r.Hash, r.DeviceID, r.IssuedAt.UnixNano())
	return err
}

// Device implements auth.DeviceStore.
func (s *Store) Device(ctx context.Context, id string) (auth.DeviceRecord, error) {
	d, err := scanDevice(s.db.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM auth_devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.DeviceRecord{}, auth.ErrNoRecord
	}
	return d, err
}

// Devices implements auth.DeviceStore.
func (s *Store) Devices(ctx context.Context, tenant string) ([]auth.DeviceRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deviceColumns+` FROM auth_devices WHERE ? = '' OR tenant = ? ORDER BY created_at, id`, tenant, tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auth.DeviceRecord
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RefreshSecret implements auth.DeviceStore.
func (s *Store) RefreshSecret(ctx context.Context, hash string) (auth.RefreshRecord, error) {
	var r auth.RefreshRecord
	var issued int64
	var used *int64
	err := s.db.QueryRowContext(ctx, `SELECT hash, device_id, issued_at, used_at, successor, access_jti, sealed FROM auth_refresh WHERE hash = ?`, hash).
		Scan(&r.Hash, &r.DeviceID, &issued, &used, &r.Successor, &r.AccessJTI, &r.Sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return r, auth.ErrNoRecord
	}
	r.IssuedAt, r.UsedAt = time.Unix(0, issued).UTC(), fromNanos(used)
	return r, err
}

// Rotate implements auth.DeviceStore in one transaction.
func (s *Store) Rotate(ctx context.Context, old string, next auth.RefreshRecord, accessJTI string, sealed []byte, use auth.DeviceUse) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE auth_refresh SET used_at = ?, successor = ?, access_jti = ?, sealed = ? WHERE hash = ? AND used_at IS NULL`,
		use.At.UnixNano(), next.Hash, accessJTI, sealed, old)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM auth_refresh WHERE hash = ?`, old).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return auth.ErrNoRecord
		}
		return auth.ErrSecretUsed
	}
	if err := insertRefresh(ctx, tx, next); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE auth_refresh SET sealed = NULL WHERE successor = ?`, old); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE auth_devices SET last_used_at = ?, last_address = ?, expires_at = ? WHERE id = ?`,
		use.At.UnixNano(), use.Address, use.ExpiresAt.UnixNano(), next.DeviceID); err != nil {
		return err
	}
	return tx.Commit()
}

// SettleAccess implements auth.DeviceStore.
func (s *Store) SettleAccess(ctx context.Context, jti string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE auth_refresh SET sealed = NULL WHERE access_jti = ? AND sealed IS NOT NULL`, jti)
	return err
}

// PruneRefresh implements auth.DeviceStore.
func (s *Store) PruneRefresh(ctx context.Context, now, spentBefore time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM auth_refresh WHERE (used_at IS NOT NULL AND used_at < ?)
		OR device_id IN (SELECT id FROM auth_devices WHERE revoked_at IS NOT NULL OR expires_at <= ?)`,
		spentBefore.UnixNano(), now.UnixNano())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// RevokeDevice implements auth.DeviceStore.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE auth_devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, at.UnixNano(), id)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return n > 0, err
	}
	if _, err := s.Device(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}
