package tenants

import "github.com/syncspace/syncspace/tenants/blob"

// BlobStore holds every tenant's content, declared here where it is used, in the
// vocabulary of tenants/blob; the single-node store on the local disk is
// tenants/rootblobs.Store (DATA/tenants/NAME). Deps.Blobs.
type BlobStore interface {
	blob.Store
}

// Blobs is one tenant's content as a Space uses it: temp write + fsync + publish at a
// path (blob.Batch), open for read and ranges, moves, directories, the versions' content
// kept, opened and removed. Content is addressed by path and, where a store may need
// it, by sha256, so that a content-addressed store can implement it too (moves are
// then renames of names only, and a version is a reference to a hash).
type Blobs interface {
	blob.Content
}

// LocalDisk is the disk access of the watcher and of recovery, for a store whose files
// live on this machine's disk and may be edited by hand (tenants/rootblobs): listing,
// lstat, hashing, the fsnotify root and the head mark file. Their decisions stay in
// tenants. A space whose Blobs is not a LocalDisk has no outside edits to look for.
type LocalDisk interface {
	blob.Disk
}
