package pgschema

// v8DirStamps: the start-up check's stamp of each directory it last found equal to
// the index (tenants/index.DirStamps; dir "" = the root), a cache beside the index.
// Cluster mode's content store has no disk that people edit, so it runs no such
// check; the table is there so that this index serves a node on a local disk too.
const v8DirStamps = `
CREATE TABLE tenant_dir_stamps (
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	dir       TEXT COLLATE "C" NOT NULL,
	stamp     BYTEA NOT NULL,
	PRIMARY KEY (tenant_id, dir)
);
`
