package pgschema

// v1Tenants: the tenants index. Times are Unix nanoseconds (UTC), as in the single-node
// SQLite index, so that `syncctl cluster import` copies values unchanged. Paths use the
// "C" collation: listings page in byte order whatever the database's locale.
//
// tenant_heads is the authority of cluster mode: the commit transaction updates a
// tenant's head row together with its change rows, so the row lock makes seq gapless
// and visible in seq order, and quota and max_entries checks are one conditional
// UPDATE. Never use a sequence for seq: sequences commit out of order.
//
// tenant_blobs is the garbage collector's book of content-addressed blobs
// (t/<tenant id>/sha256/<h[0:2]>/<h>): a row is written before the blob is stored;
// entries and versions reference blobs by hash; unreferenced_since is set when the last
// reference goes (NULL while referenced or while the upload that stores it runs), and
// the collector deletes blobs unreferenced for longer than its grace period.
//
// tenant_entry_undo holds, while a paged listing is open, the state a path had before
// each change made after the listing's snapshot (present false: no entry; died: the
// first seq after that state).
const v1Tenants = `
CREATE TABLE tenants (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	quota         BIGINT NOT NULL DEFAULT 0,
	max_file_size BIGINT NOT NULL DEFAULT 0,
	max_entries   BIGINT NOT NULL DEFAULT 0,
	created_at    BIGINT NOT NULL
);
CREATE TABLE tenant_heads (
	tenant_id      TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
	epoch          TEXT NOT NULL,
	head_seq       BIGINT NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
	used_bytes     BIGINT NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
	reserved_bytes BIGINT NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0),
	entries        BIGINT NOT NULL DEFAULT 0 CHECK (entries >= 0)
);
CREATE TABLE tenant_entries (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	fold      TEXT COLLATE "C" NOT NULL,
	path      TEXT COLLATE "C" NOT NULL,
	parent    TEXT COLLATE "C" NOT NULL,
	is_dir    BOOLEAN NOT NULL,
	size      BIGINT NOT NULL,
	hash      TEXT NOT NULL,
	modified  BIGINT NOT NULL,
	seq       BIGINT NOT NULL,
	PRIMARY KEY (tenant_id, fold)
);
CREATE UNIQUE INDEX tenant_entries_path ON tenant_entries (tenant_id, path);
CREATE INDEX tenant_entries_parent ON tenant_entries (tenant_id, parent, path);
CREATE INDEX tenant_entries_hash ON tenant_entries (tenant_id, hash) WHERE NOT is_dir;
CREATE TABLE tenant_changes (
	tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	seq            BIGINT NOT NULL,
	op             TEXT NOT NULL,
	from_path      TEXT COLLATE "C" NOT NULL,
	path           TEXT COLLATE "C" NOT NULL,
	is_dir         BOOLEAN NOT NULL,
	size           BIGINT NOT NULL,
	hash           TEXT NOT NULL,
	modified       BIGINT NOT NULL,
	source_client  TEXT NOT NULL,
	source_subject TEXT NOT NULL,
	at             BIGINT NOT NULL,
	meta_seq       BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, seq)
);
CREATE TABLE tenant_versions (
	tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	id          TEXT NOT NULL,
	path        TEXT COLLATE "C" NOT NULL,
	fold        TEXT COLLATE "C" NOT NULL,
	size        BIGINT NOT NULL,
	hash        TEXT NOT NULL,
	modified    BIGINT NOT NULL,
	replaced_at BIGINT NOT NULL,
	deleted     BOOLEAN NOT NULL,
	PRIMARY KEY (tenant_id, id)
);
CREATE INDEX tenant_versions_fold ON tenant_versions (tenant_id, fold, replaced_at);
CREATE INDEX tenant_versions_path ON tenant_versions (tenant_id, path);
CREATE INDEX tenant_versions_age ON tenant_versions (replaced_at);
CREATE INDEX tenant_versions_hash ON tenant_versions (tenant_id, hash);
CREATE INDEX tenant_versions_deleted ON tenant_versions (tenant_id, path, replaced_at) WHERE deleted;
CREATE TABLE tenant_entry_undo (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	path      TEXT COLLATE "C" NOT NULL,
	died      BIGINT NOT NULL,
	present   BOOLEAN NOT NULL,
	parent    TEXT COLLATE "C" NOT NULL,
	is_dir    BOOLEAN NOT NULL,
	size      BIGINT NOT NULL,
	hash      TEXT NOT NULL,
	modified  BIGINT NOT NULL,
	seq       BIGINT NOT NULL,
	PRIMARY KEY (tenant_id, path, died)
);
CREATE TABLE tenant_blobs (
	tenant_id          TEXT NOT NULL,
	hash               TEXT NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
	size               BIGINT NOT NULL CHECK (size >= 0),
	created_at         BIGINT NOT NULL,
	unreferenced_since BIGINT,
	PRIMARY KEY (tenant_id, hash)
);
CREATE INDEX tenant_blobs_unreferenced ON tenant_blobs (unreferenced_since) WHERE unreferenced_since IS NOT NULL;
CREATE TABLE jobs (
	name     TEXT PRIMARY KEY,
	node_id  TEXT NOT NULL,
	last_run BIGINT NOT NULL
);
`

// v2Auth: the auth store. Private halves of signing keys are AES-GCM ciphertexts under
// the key-encryption key of auth.kek_file (nonce || ciphertext). Revocation ids come
// from auth_revocation_head, updated in the revoking transaction (not from a sequence,
// whose values commit out of order), so a node polling "id > last seen" misses none.
// The audit log is append-only.
const v2Auth = `
CREATE TABLE auth_keys (
	kid         TEXT PRIMARY KEY,
	public_key  BYTEA NOT NULL,
	private_enc BYTEA NOT NULL,
	created_at  BIGINT NOT NULL,
	retired_at  BIGINT
);
CREATE TABLE auth_tokens (
	jti        TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	tenant     TEXT NOT NULL DEFAULT '',
	tid        TEXT NOT NULL DEFAULT '',
	subject    TEXT NOT NULL,
	role       TEXT NOT NULL,
	kid        TEXT NOT NULL,
	issued_at  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT
);
CREATE INDEX auth_tokens_subject ON auth_tokens (kind, tenant, subject);
CREATE TABLE auth_revocation_head (
	one  BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
	last BIGINT NOT NULL
);
INSERT INTO auth_revocation_head (one, last) VALUES (true, 0);
CREATE TABLE auth_revocations (
	id         BIGINT PRIMARY KEY,
	jti        TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL
);
CREATE INDEX auth_revocations_expires ON auth_revocations (expires_at);
CREATE TABLE auth_audit (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time    BIGINT NOT NULL,
	actor   TEXT NOT NULL,
	jti     TEXT NOT NULL DEFAULT '',
	address TEXT NOT NULL DEFAULT '',
	action  TEXT NOT NULL,
	target  TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL DEFAULT ''
);
CREATE FUNCTION auth_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit log is append-only';
END $$;
CREATE TRIGGER auth_audit_no_change BEFORE UPDATE OR DELETE ON auth_audit
	FOR EACH ROW EXECUTE FUNCTION auth_audit_append_only();
CREATE TRIGGER auth_audit_no_truncate BEFORE TRUNCATE ON auth_audit
	FOR EACH STATEMENT EXECUTE FUNCTION auth_audit_append_only();
CREATE TABLE auth_settings (
	one         BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
	issuer      TEXT NOT NULL,
	max_ttl     BIGINT NOT NULL,
	max_ops_ttl BIGINT NOT NULL,
	saved_at    BIGINT NOT NULL
);
`

// v3AuthKeys: a key record may lack its sealed private half (NULL: a retired key,
// whose sealed half is dropped, or a key imported without one, which verifies only),
// and the recorded settings keep the key directory as auth.Settings does.
const v3AuthKeys = `
ALTER TABLE auth_keys ALTER COLUMN private_enc DROP NOT NULL;
ALTER TABLE auth_settings ADD COLUMN key_dir TEXT NOT NULL DEFAULT '';
`

// v4AuthDevices: device credentials. auth_devices holds enrolled devices, auth_refresh
// their refresh secrets (hashes only; sealed: the answer of a redemption, encrypted
// under a key derived from the redeemed secret, kept for its grace); a token issued to
// a device names it (auth_tokens.device), and the recorded settings keep
// auth.device_ttl. Times are Unix nanoseconds.
const v4AuthDevices = `
ALTER TABLE auth_tokens ADD COLUMN device TEXT NOT NULL DEFAULT '';
CREATE INDEX auth_tokens_device ON auth_tokens (device) WHERE device <> '';
ALTER TABLE auth_settings ADD COLUMN device_ttl BIGINT NOT NULL DEFAULT 0;
CREATE TABLE auth_devices (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	tenant       TEXT NOT NULL,
	tid          TEXT NOT NULL,
	subject      TEXT NOT NULL,
	role         TEXT NOT NULL,
	thumbprint   TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	last_used_at BIGINT,
	last_address TEXT NOT NULL DEFAULT '',
	revoked_at   BIGINT
);
CREATE INDEX auth_devices_tenant ON auth_devices (tenant, created_at);
CREATE TABLE auth_refresh (
	hash       TEXT PRIMARY KEY,
	device_id  TEXT NOT NULL REFERENCES auth_devices (id),
	issued_at  BIGINT NOT NULL,
	used_at    BIGINT,
	successor  TEXT NOT NULL DEFAULT '',
	access_jti TEXT NOT NULL DEFAULT '',
	sealed     BYTEA
);
CREATE INDEX auth_refresh_successor ON auth_refresh (successor);
CREATE INDEX auth_refresh_access ON auth_refresh (access_jti);
`
