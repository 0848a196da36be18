package pgschema

// v7Reservations: upload reservations across nodes, and the blob collector's clock.
//
// tenant_reservations holds the bytes an upload in progress reserved against its
// tenant's quota: the head row's reserved_bytes is the sum of the tenant's rows, moved
// in the statement that inserts or deletes a row. A row is the reserving node's
// (node_id) until expires_at, which that node pushes forward while it lives; a row
// past expires_at belongs to a node that died, and any node deletes it (taking its
// bytes off reserved_bytes). Lock order: the head row first, then reservation rows.
//
// tenant_blobs (v1) gets its rows from the uploads (one before the blob is stored) and
// from the collector; its times are the database's clock, so that nodes whose clocks
// differ agree on the grace period.
const v7Reservations = `
CREATE TABLE tenant_reservations (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	node_id    TEXT NOT NULL,
	bytes      BIGINT NOT NULL CHECK (bytes > 0),
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX tenant_reservations_node ON tenant_reservations (node_id);
CREATE INDEX tenant_reservations_expires ON tenant_reservations (expires_at);
`
