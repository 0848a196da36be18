// Package pgschema owns cluster mode's PostgreSQL schema: the versioned migrations and
// the runner that syncd (and syncctl in cluster mode) call at start. Every node applies
// them under one advisory lock, so nodes starting together apply each migration once.
//
// Both the tenants index and the auth store of cluster mode read and write these tables;
// neither imports the other: this leaf package is the one place the schema is written
// down, and only wiring and tests import it.
package pgschema

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockKey is the pg_advisory_lock key the migration runner holds ("syncspac" in ASCII),
// a session lock: it is released when the connection ends, even if the node dies.
const lockKey int64 = 0x73796e6373706163

// Migration is one step of the schema. Versions start at 1 and increase by one; a
// released migration is never edited, only followed by a new one.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the schema's steps in order.
func Migrations() []Migration {
	return []Migration{
		{1, "tenants, index, change log, versions, blobs", v1Tenants},
		{2, "auth: keys, tokens, revocations, audit, settings", v2Auth},
		{3, "auth: keys without a sealed half, settings' key_dir", v3AuthKeys},
		{4, "auth: device credentials", v4AuthDevices},
		{5, "share links", v5Shares},
		{6, "chunk lists for delta transfer", v6Chunks},
		{7, "upload reservations across nodes; blob collector", v7Reservations},
		{8, "stamps of unchanged directories for the start-up check", v8DirStamps},
		{9, "undo rows kept for listings on any node", v9UndoLeases},
		{10, "share links: the creating token's jti", v10ShareCreator},
	}
}

// Latest is the schema version Apply brings a database to.
func Latest() int { return len(Migrations()) }

// Apply brings the database conn is connected to up to Latest: under a session advisory
// lock, each missing migration runs in its own transaction together with its row in
// schema_migrations. It is safe to call from several nodes at once and again on an
// up-to-date database (then it changes nothing). A database whose schema is newer than
// this binary knows is an error: an older node must not write to it.
func Apply(ctx context.Context, conn *pgx.Conn) (err error) {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("pgschema: advisory lock: %w", err)
	}
	defer func() {
		// A fresh context: the caller's may be done, and the lock must not outlive
		// this call on a connection the caller keeps.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, lockKey); uerr != nil && err == nil {
			err = fmt.Errorf("pgschema: advisory unlock: %w", uerr)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("pgschema: schema_migrations: %w", err)
	}
	current, err := Version(ctx, conn)
	if err != nil {
		return err
	}
	if current > Latest() {
		return fmt.Errorf("pgschema: the database's schema is version %d, newer than this binary's %d: upgrade syncd", current, Latest())
	}
	for _, m := range Migrations()[current:] {
		if err := applyOne(ctx, conn, m); err != nil {
			return err
		}
	}
	return nil
}

func applyOne(ctx context.Context, conn *pgx.Conn, m Migration) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("pgschema: migration %d (%s): %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("pgschema: record migration %d: %w", m.Version, err)
		}
		return nil
	})
}

// Version returns the highest applied migration, 0 for an empty database.
func Version(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("pgschema: read version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("pgschema: read version: %w", err)
	}
	return v, nil
}
