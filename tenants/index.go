package tenants

import "github.com/syncspace/syncspace/tenants/index"

// Index is what tenants needs from its metadata store, declared here where it is used,
// in the vocabulary of tenants/index; its SQLite implementation is
// tenants/sqlite.Store.
type Index interface {
	index.Writer   // the write transaction of a commit
	index.Tenants  // tenant records
	index.Recovery // what a space reads and repairs when it opens
	index.Reader   // point reads
	index.Viewer   // reads in one snapshot: change pages, listings
	index.Maintenance
	index.Chunks    // chunk lists for delta transfer
	index.DirStamps // the start-up check's stamps of unchanged directories
}
