package pgschema

// v5Shares: share links (auth/share), as in the single-node SQLite table auth_shares:
// key is the hex SHA-256 of the link's id (the id itself is never stored); times are
// Unix seconds.
const v5Shares = `
CREATE TABLE auth_shares (
	key           TEXT PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}$'),
	tenant        TEXT NOT NULL,
	tid           TEXT NOT NULL,
	path          TEXT NOT NULL COLLATE "C",
	created_by    TEXT NOT NULL,
	created_at    BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	revoked_at    BIGINT
);
CREATE INDEX auth_shares_tid ON auth_shares (tid, created_at);
`

// v10ShareCreator: the jti of the token that made each link, checked against the
// revocations when the link is used; links made before it keep an empty one (none to check).
const v10ShareCreator = `
ALTER TABLE auth_shares ADD COLUMN creator_jti TEXT NOT NULL DEFAULT '';
`
