// Package sqlite opens syncspace's one SQLite database (syncd.db) with the settings
// every package relies on: the pure-Go modernc.org/sqlite driver, WAL journal (trimmed
// to JournalSizeLimit after checkpoints), synchronous=FULL (a commit is durable before
// it returns), a busy timeout so that syncd and syncctl can share the file, foreign
// keys, and write transactions that begin IMMEDIATE so that two writers never
// deadlock on a lock upgrade.
//
// The file is created with mode 0600; Open refuses a file that group or others may
// read or write.
//
// Store (store.go) holds the tenants' tables in that database: schema, prepared
// statements, the write lock, cross-tenant batching of write transactions and WAL
// truncation.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// BusyTimeoutMillis is how long a connection waits for a lock held by another
// connection or process before failing with SQLITE_BUSY.
const BusyTimeoutMillis = 10000

// JournalSizeLimit is the size (bytes) the WAL file is trimmed back to whenever a
// checkpoint lets SQLite rewind it (PRAGMA journal_size_limit): a burst of writes
// does not leave a large WAL file behind.
const JournalSizeLimit = 16 << 20

// MaxIdleConns is how many idle connections Open's pool keeps.
const MaxIdleConns = 16

// DSN returns the data source name Open uses for path. Every pragma is in the DSN so
// that every pooled connection gets it. Transactions begun with sql.TxOptions.ReadOnly
// stay DEFERRED (a read snapshot); every other transaction begins IMMEDIATE.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeoutMillis))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", JournalSizeLimit))
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

// Open opens (creating if needed, with mode 0600) the SQLite database at path and
// checks that it is usable. It fails if the file is readable or writable by group or
// others, or is not a regular file. The caller closes the returned *sql.DB.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := ensureFile(abs); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", DSN(abs))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	// Keep connections instead of closing all but two after a burst of concurrent
	// requests: opening one runs every pragma again, and the statements prepared on it
	// (by the tenants package) are lost with it.
	db.SetMaxIdleConns(MaxIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}
	if mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: journal mode is %q, want wal", abs, mode)
	}
	// WAL and shared-memory files take the database file's mode; make sure of it
	// for files left by an older run.
	for _, side := range []string{abs + "-wal", abs + "-shm"} {
		if fi, err := os.Lstat(side); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(side, 0o600); err != nil {
				db.Close()
				return nil, fmt.Errorf("sqlite: %w", err)
			}
		}
	}
	return db, nil
}

// ensureFile creates the database file with mode 0600 if it does not exist, and checks
// the mode of an existing one.
func ensureFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		// The umask may have narrowed the mode but never widened it; set it exactly.
		cerr := f.Chmod(0o600)
		if err := errors.Join(cerr, f.Close()); err != nil {
			return fmt.Errorf("sqlite: create %s: %w", path, err)
		}
		return nil
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("sqlite: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("sqlite: %s has mode %#o: group or others may access it; run chmod 600 %s", path, perm, path)
	}
	return nil
}
