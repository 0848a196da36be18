package pgschema

// v6Chunks: the chunk lists of contents for delta transfer (sync/chunk), by tenant and
// content hash. A list is a cache beside the index (the key is the content's hash, so
// it is never stale); the tenant's deletion takes its lists with it.
const v6Chunks = `
CREATE TABLE tenant_chunks (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	hash      TEXT NOT NULL,
	list      BYTEA NOT NULL,
	PRIMARY KEY (tenant_id, hash)
);
`
