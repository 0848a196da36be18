// Package sqlitestore is auth's Store on SQLite: the auth_* tables of syncd.db (keys,
// token records, the revocation log, the append-only audit log and the recorded
// settings). It holds every SQL statement auth runs; auth itself imports no
// database/sql. The caller opens the *sql.DB (driver, pragmas) and closes it.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/syncspace/syncspace/auth"
)

// Store implements auth.Store on one *sql.DB. Several Stores, in one process or
// several, may share one database file.
type Store struct {
	db *sql.DB
}

var _ auth.Store = (*Store)(nil)

// New creates the auth tables in db when missing and returns the store. db should
// take its write lock at BEGIN (`_txlock=immediate`, as syncd's store does), so that
// concurrent revocations and retirements wait for each other instead of failing busy.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("auth: nil database")
	}
	for _, q := range schema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("auth: create tables: %w", err)
		}
	}
	if err := addColumn(ctx, db, "auth_tokens", "device", "TEXT NOT NULL DEFAULT ''"); err != nil {
		return nil, fmt.Errorf("auth: create tables: %w", err)
	}
	if err := createSettings(ctx, db); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// OpenService is auth.Open over db: New, then auth.Open on that store.
func OpenService(ctx context.Context, db *sql.DB, cfg auth.Config, tenants auth.TenantLookup, logger *slog.Logger) (*auth.Service, error) {
	st, err := New(ctx, db)
	if err != nil {
		return nil, err
	}
	return auth.Open(ctx, st, cfg, tenants, logger)
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS auth_keys (
		kid        TEXT PRIMARY KEY,
		public_key BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		retired_at INTEGER
	)`,
	// A key's private half sealed under the key-encryption key, when the Service has
	// one; its own table so that databases made before it need no ALTER.
	`CREATE TABLE IF NOT EXISTS auth_keys_sealed (
		kid    TEXT PRIMARY KEY REFERENCES auth_keys(kid),
		sealed BLOB NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS auth_tokens (
		jti        TEXT PRIMARY KEY,
		kind       TEXT NOT NULL,
		tenant     TEXT NOT NULL DEFAULT '',
		tid        TEXT NOT NULL DEFAULT '',
		subject    TEXT NOT NULL,
		role       TEXT NOT NULL,
		kid        TEXT NOT NULL,
		issued_at  INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		revoked_at INTEGER
	)`,
	`CREATE INDEX IF NOT EXISTS auth_tokens_subject ON auth_tokens(kind, tenant, subject)`,
	`CREATE TABLE IF NOT EXISTS auth_revocations (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		jti        TEXT NOT NULL,
		expires_at INTEGER NOT NULL,
		revoked_at INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS auth_audit (
		id      INTEGER PRIMARY KEY AUTOINCREMENT,
		time    INTEGER NOT NULL,
		actor   TEXT NOT NULL,
		jti     TEXT NOT NULL DEFAULT '',
		address TEXT NOT NULL DEFAULT '',
		action  TEXT NOT NULL,
		target  TEXT NOT NULL DEFAULT '',
		outcome TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE TRIGGER IF NOT EXISTS auth_audit_no_update BEFORE UPDATE ON auth_audit
		BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
	`CREATE TRIGGER IF NOT EXISTS auth_audit_no_delete BEFORE DELETE ON auth_audit
		BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
	settingsTable,
}

func init() { schema = append(schema, deviceSchema...) }
