package pgschema

// v9UndoLeases: undo_until is the end of the lease of the paged listings open on any
// node of the tenant (the database's clock). While it lies ahead, every node's writes
// keep undo rows (the write transaction reads it from the head row it locks) and no
// node prunes or clears them, so that a listing on one node stays one snapshot while
// another node writes.
const v9UndoLeases = `
ALTER TABLE tenant_heads ADD COLUMN undo_until TIMESTAMPTZ NOT NULL DEFAULT '-infinity';
`
