package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Settings are the token settings a running syncd uses. syncd records them in the
// store at start-up, so that syncctl in local mode, which knows only the data dir
// (SPEC §1: `--data DIR`), issues tokens syncd accepts: same issuer, same TTL caps,
// same key directory (auth.key_dir may live outside the data dir).
type Settings struct {
	Issuer    string
	MaxTTL    time.Duration
	MaxOpsTTL time.Duration
	KeyDir    string // absolute; "" = the data dir's keys/
}

const settingsTable = `CREATE TABLE IF NOT EXISTS auth_settings (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	issuer      TEXT NOT NULL,
	max_ttl     INTEGER NOT NULL,
	max_ops_ttl INTEGER NOT NULL,
	key_dir     TEXT NOT NULL,
	saved_at    INTEGER NOT NULL
)`

// SaveSettings records s as the settings of the syncd using db.
func SaveSettings(ctx context.Context, db *sql.DB, s Settings) error {
	if _, err := db.ExecContext(ctx, settingsTable); err != nil {
		return fmt.Errorf("auth settings: %w", err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO auth_settings (id, issuer, max_ttl, max_ops_ttl, key_dir, saved_at) VALUES (1, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET issuer = excluded.issuer, max_ttl = excluded.max_ttl,
			max_ops_ttl = excluded.max_ops_ttl, key_dir = excluded.key_dir, saved_at = excluded.saved_at`,
		s.Issuer, int64(s.MaxTTL), int64(s.MaxOpsTTL), s.KeyDir, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("auth settings: %w", err)
	}
	return nil
}

// LoadSettings returns the settings the last syncd on db recorded; ok is false when
// none did yet.
func LoadSettings(ctx context.Context, db *sql.DB) (s Settings, ok bool, err error) {
	if _, err := db.ExecContext(ctx, settingsTable); err != nil {
		return Settings{}, false, fmt.Errorf("auth settings: %w", err)
	}
	var maxTTL, maxOps int64
	err = db.QueryRowContext(ctx, `SELECT issuer, max_ttl, max_ops_ttl, key_dir FROM auth_settings WHERE id = 1`).
		Scan(&s.Issuer, &maxTTL, &maxOps, &s.KeyDir)
	if errors.Is(err, sql.ErrNoRows) {
		return Settings{}, false, nil
	}
	if err != nil {
		return Settings{}, false, fmt.Errorf("auth settings: %w", err)
	}
	s.MaxTTL, s.MaxOpsTTL = time.Duration(maxTTL), time.Duration(maxOps)
	return s, true, nil
}
