package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"os"
	"strconv"
)

// WALTruncateSize is the size of syncd.db-wal beyond which CheckpointWAL truncates it with
// PRAGMA wal_checkpoint(TRUNCATE). SQLite's automatic checkpoints (every 1000 pages)
// copy the WAL back but cannot rewind it while readers still use it, and
// JournalSizeLimit trims it only when it is rewound; a steady stream of
// overlapping readers can starve both.
const WALTruncateSize = 16 << 20

// walBusyMillis is how long a TRUNCATE checkpoint waits for readers (and for another
// process's writer) before it gives up until the next try. This process's writers
// wait on the registry's write lock meanwhile, not on SQLite.
const walBusyMillis = 200

// walFile returns the path of the database's WAL file ("" for a database without a
// file).
func walFile(ctx context.Context, db *sql.DB) string {
	rows, err := db.QueryContext(ctx, `PRAGMA database_list`)
	if err != nil {
		return ""
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var name, file string
		if rows.Scan(&seq, &name, &file) == nil && name == "main" && file != "" {
			return file + "-wal"
		}
	}
	return ""
}

// CheckpointWAL truncates the WAL when it has grown beyond WALTruncateSize. It is
// safe with another process (syncctl in local mode) on the same file: the checkpoint
// waits at most walBusyMillis for it, and a checkpoint that cannot finish is simply
// tried again on the next call.
func (r *Store) CheckpointWAL(ctx context.Context) {
	if r.wal == "" {
		return
	}
	fi, err := os.Stat(r.wal)
	if err != nil || fi.Size() <= WALTruncateSize {
		return
	}
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(walBusyMillis)); err != nil {
		return
	}
	defer func() {
		// Back to the pool with the usual busy timeout, or not at all.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA busy_timeout = `+strconv.Itoa(BusyTimeoutMillis)); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	var busy, frames, done int64
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("WAL checkpoint failed", "err", err, "wal_bytes", fi.Size())
		}
		return
	}
	if busy != 0 {
		r.log.Debug("WAL checkpoint postponed: readers still active", "wal_bytes", fi.Size())
		return
	}
	r.log.Debug("WAL truncated", "wal_bytes", fi.Size(), "frames", frames)
}
