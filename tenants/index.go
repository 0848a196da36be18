package tenants

import "github.com/syncspace/syncspace/tenants/index"

// Index is what tenants needs from its metadata store, declared here where it is used,
// in the vocabulary of tenants/index. Today it is the write side (a commit's write
// transaction: gapless seqs, head, entries, versions, undo rows); its SQLite
// implementation is tenants/sqlite.Store.
type Index interface {
	index.Writer
}
