package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The public URL table holds the PUBLIC_URL the last syncd on the store served under
// (web.public_url, or the one it derived from the address it bound), so that syncctl
// in local mode without --config names the same URL in sign-in links and device
// credentials. It is not auth's: it lives beside the recorded settings, in the same
// store, for the same reader.
const publicURLTable = `CREATE TABLE IF NOT EXISTS node_public_url (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	url      TEXT NOT NULL,
	explicit INTEGER NOT NULL
)`

// SavePublicURL records url as the PUBLIC_URL of the syncd using db; explicit says
// that it is web.public_url (not derived from the listen address).
func SavePublicURL(ctx context.Context, db *sql.DB, url string, explicit bool) error {
	if _, err := db.ExecContext(ctx, publicURLTable); err != nil {
		return fmt.Errorf("public url: %w", err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO node_public_url (id, url, explicit) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, explicit = excluded.explicit`, url, explicit)
	if err != nil {
		return fmt.Errorf("public url: %w", err)
	}
	return nil
}

// LoadPublicURL returns what SavePublicURL recorded last; ok is false when no syncd
// recorded one yet.
func LoadPublicURL(ctx context.Context, db *sql.DB) (url string, explicit, ok bool, err error) {
	if _, err := db.ExecContext(ctx, publicURLTable); err != nil {
		return "", false, false, fmt.Errorf("public url: %w", err)
	}
	err = db.QueryRowContext(ctx, `SELECT url, explicit FROM node_public_url WHERE id = 1`).Scan(&url, &explicit)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, fmt.Errorf("public url: %w", err)
	}
	return url, explicit, true, nil
}
