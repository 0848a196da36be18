package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/syncspace/syncspace/auth"
)

const settingsTable = `CREATE TABLE IF NOT EXISTS auth_settings (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	issuer      TEXT NOT NULL,
	max_ttl     INTEGER NOT NULL,
	max_ops_ttl INTEGER NOT NULL,
	key_dir     TEXT NOT NULL,
	saved_at    INTEGER NOT NULL
)`

// SaveSettings implements auth.SettingsStore.
func (s *Store) SaveSettings(ctx context.Context, set auth.Settings) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO auth_settings (id, issuer, max_ttl, max_ops_ttl, key_dir, saved_at, device_ttl) VALUES (1, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET issuer = excluded.issuer, max_ttl = excluded.max_ttl,
			max_ops_ttl = excluded.max_ops_ttl, key_dir = excluded.key_dir, saved_at = excluded.saved_at,
			device_ttl = excluded.device_ttl`,
		set.Issuer, int64(set.MaxTTL), int64(set.MaxOpsTTL), set.KeyDir, time.Now().UnixNano(), int64(set.DeviceTTL))
	if err != nil {
		return fmt.Errorf("auth settings: %w", err)
	}
	return nil
}

// LoadSettings implements auth.SettingsStore.
func (s *Store) LoadSettings(ctx context.Context) (set auth.Settings, ok bool, err error) {
	var maxTTL, maxOps, devTTL int64
	err = s.db.QueryRowContext(ctx, `SELECT issuer, max_ttl, max_ops_ttl, key_dir, device_ttl FROM auth_settings WHERE id = 1`).
		Scan(&set.Issuer, &maxTTL, &maxOps, &set.KeyDir, &devTTL)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Settings{}, false, nil
	}
	if err != nil {
		return auth.Settings{}, false, fmt.Errorf("auth settings: %w", err)
	}
	set.MaxTTL, set.MaxOpsTTL, set.DeviceTTL = time.Duration(maxTTL), time.Duration(maxOps), time.Duration(devTTL)
	return set, true, nil
}

// SaveSettings records set as the settings of the syncd using db (creating only the
// settings table if needed).
func SaveSettings(ctx context.Context, db *sql.DB, set auth.Settings) error {
	if err := createSettings(ctx, db); err != nil {
		return err
	}
	return (&Store{db: db}).SaveSettings(ctx, set)
}

// LoadSettings returns the settings the last syncd on db recorded; ok is false when
// none did yet.
func LoadSettings(ctx context.Context, db *sql.DB) (set auth.Settings, ok bool, err error) {
	if err := createSettings(ctx, db); err != nil {
		return auth.Settings{}, false, err
	}
	return (&Store{db: db}).LoadSettings(ctx)
}

// createSettings creates the settings table when missing, with the device_ttl column
// added to a table recorded before devices.
func createSettings(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, settingsTable); err != nil {
		return fmt.Errorf("auth settings: %w", err)
	}
	if err := addColumn(ctx, db, "auth_settings", "device_ttl", "INTEGER NOT NULL DEFAULT 0"); err != nil {
		return fmt.Errorf("auth settings: %w", err)
	}
	return nil
}
