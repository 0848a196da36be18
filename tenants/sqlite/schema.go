package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// schema creates the tenants' tables. Times are Unix nanoseconds (UTC).
//
// tenant_chunks holds the chunk lists of contents for delta transfer (sync/chunk), by
// content hash: a cache beside the index, added after the first release (CREATE ... IF
// NOT EXISTS brings an older database up to date).
//
// tenant_entries_big_hash finds the files of a content of 1 MiB (chunk.MinDeltaSize) or
// more by hash: whether a chunk list is still in use (chunks.go). Partial, so that
// the commits of smaller files, most of them, do not write it; added after the first
// release (IF NOT EXISTS builds it once over an older database).
//
// tenant_dir_stamps holds the start-up check's stamp of each directory it last found
// equal to the index (index.DirStamps; dir "" = the root): a cache beside the index,
// added after the first release like tenant_chunks.
//
// tenant_entry_undo holds, while a paged listing is open (snapshot.go), the state a
// path had before each change made after the listing's snapshot: present 0 means the
// path had no entry; died is the first seq after that state (head before the change
// + 1).
//
// tenant_journal_changes and tenant_journal_entries hold the rows of recent plain
// writes, every tenant's in one order (rowid tables: a batch appends to their last
// pages), until they are merged into tenant_changes and tenant_entries (journal.go);
// added after the first release (empty at every open: NewStore merges them).
const schema = `
CREATE TABLE IF NOT EXISTS tenants (
	name          TEXT PRIMARY KEY,
	id            TEXT NOT NULL UNIQUE,
	quota         INTEGER NOT NULL DEFAULT 0,
	max_file_size INTEGER NOT NULL DEFAULT 0,
	max_entries   INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	epoch         TEXT NOT NULL,
	head_seq      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tenant_entries (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	fold      TEXT NOT NULL,
	path      TEXT NOT NULL,
	parent    TEXT NOT NULL,
	is_dir    INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	hash      TEXT NOT NULL,
	modified  INTEGER NOT NULL,
	seq       INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, fold)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS tenant_entries_path ON tenant_entries(tenant_id, path);
CREATE INDEX IF NOT EXISTS tenant_entries_parent ON tenant_entries(tenant_id, parent, path);
CREATE INDEX IF NOT EXISTS tenant_entries_big_hash ON tenant_entries(tenant_id, hash) WHERE is_dir = 0 AND size >= 1048576;
CREATE TABLE IF NOT EXISTS tenant_changes (
	tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	seq            INTEGER NOT NULL,
	op             TEXT NOT NULL,
	from_path      TEXT NOT NULL,
	path           TEXT NOT NULL,
	is_dir         INTEGER NOT NULL,
	size           INTEGER NOT NULL,
	hash           TEXT NOT NULL,
	modified       INTEGER NOT NULL,
	source_client  TEXT NOT NULL,
	source_subject TEXT NOT NULL,
	at             INTEGER NOT NULL,
	meta_seq       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tenant_versions (
	tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	id          TEXT NOT NULL,
	path        TEXT NOT NULL,
	fold        TEXT NOT NULL,
	size        INTEGER NOT NULL,
	hash        TEXT NOT NULL,
	modified    INTEGER NOT NULL,
	replaced_at INTEGER NOT NULL,
	deleted     INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tenant_versions_fold ON tenant_versions(tenant_id, fold, replaced_at);
CREATE INDEX IF NOT EXISTS tenant_versions_path ON tenant_versions(tenant_id, path);
CREATE INDEX IF NOT EXISTS tenant_versions_age ON tenant_versions(replaced_at);
CREATE TABLE IF NOT EXISTS tenant_entry_undo (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	path      TEXT NOT NULL,
	died      INTEGER NOT NULL,
	present   INTEGER NOT NULL,
	parent    TEXT NOT NULL,
	is_dir    INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	hash      TEXT NOT NULL,
	modified  INTEGER NOT NULL,
	seq       INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, path, died)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tenant_dir_stamps (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	dir       TEXT NOT NULL,
	stamp     BLOB NOT NULL,
	PRIMARY KEY (tenant_id, dir)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tenant_journal_changes (
	tenant_id      TEXT NOT NULL,
	seq            INTEGER NOT NULL,
	op             TEXT NOT NULL,
	from_path      TEXT NOT NULL,
	path           TEXT NOT NULL,
	is_dir         INTEGER NOT NULL,
	size           INTEGER NOT NULL,
	hash           TEXT NOT NULL,
	modified       INTEGER NOT NULL,
	source_client  TEXT NOT NULL,
	source_subject TEXT NOT NULL,
	at             INTEGER NOT NULL,
	meta_seq       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_journal_entries (
	tenant_id TEXT NOT NULL,
	fold      TEXT NOT NULL,
	path      TEXT NOT NULL,
	parent    TEXT NOT NULL,
	is_dir    INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	hash      TEXT NOT NULL,
	modified  INTEGER NOT NULL,
	seq       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_chunks (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	hash      TEXT NOT NULL,
	list      BLOB NOT NULL,
	PRIMARY KEY (tenant_id, hash)
) WITHOUT ROWID;
`

func createSchema(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("sqlite: create tenants schema: %w", err)
	}
	// Added after the first release: the seq of the change that last wrote what a
	// Delete removed (SPEC §3: "a Delete event carries the last metadata of what it
	// deleted"); 0 = the event's own seq.
	if _, err := db.ExecContext(ctx, `SELECT meta_seq FROM tenant_changes LIMIT 0`); err != nil {
		if _, err := db.ExecContext(ctx, `ALTER TABLE tenant_changes ADD COLUMN meta_seq INTEGER NOT NULL DEFAULT 0`); err != nil {
			return fmt.Errorf("sqlite: add tenant_changes.meta_seq: %w", err)
		}
	}
	return nil
}
