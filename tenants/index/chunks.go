package index

import "context"

// Chunks keeps the chunk lists of contents (sync/chunk) by tenant and content hash,
// so that a delta never re-reads a file to answer. A list is opaque bytes to the
// index (tenants encodes it). Lists are a cache beside the index: losing one costs a
// re-read of the content, never a wrong answer, since the key is the content's hash.
//
// A list is kept while a file entry of its tenant has its content (the same hash):
// kept versions do not keep one (a restore is an upload, which records the list
// again). Lists are stored only for contents of chunk.MinDeltaSize or more, so only
// file entries of that size can hold a list's hash; an index may rely on it.
type Chunks interface {
	// ChunkList returns the list stored for hash; nil if none.
	ChunkList(ctx context.Context, id, hash string) ([]byte, error)
	// PutChunkList stores list for hash, replacing any.
	PutChunkList(ctx context.Context, id, hash string, list []byte) error
	// DropChunkList forgets the list of hash unless a file entry of the tenant still
	// has that content (checked in the same statement); none is no error.
	DropChunkList(ctx context.Context, id, hash string) error
	// SweepChunkLists examines up to limit lists after from, in (tenant id, hash)
	// order over every tenant, and drops those whose content no file entry of their
	// tenant has (checked again in the statement that drops them). It returns the key
	// of the last list examined, the zero ChunkKey when no list is left after it, and
	// how many it dropped. A pass starts at the zero ChunkKey; its memory is bounded
	// by limit, whatever the number of lists.
	SweepChunkLists(ctx context.Context, from ChunkKey, limit int) (next ChunkKey, dropped int, err error)
}

// ChunkKey names one chunk list: its tenant's id and its content's hash. The zero
// value is before every list.
type ChunkKey struct{ TenantID, Hash string }
