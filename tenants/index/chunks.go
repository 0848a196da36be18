package index

import "context"

// Chunks keeps the chunk lists of contents (sync/chunk) by tenant and content hash,
// so that a delta never re-reads a file to answer. A list is opaque bytes to the
// index (tenants encodes it). Lists are a cache beside the index: losing one costs a
// re-read of the content, never a wrong answer, since the key is the content's hash.
type Chunks interface {
	// ChunkList returns the list stored for hash; nil if none.
	ChunkList(ctx context.Context, id, hash string) ([]byte, error)
	// PutChunkList stores list for hash, replacing any.
	PutChunkList(ctx context.Context, id, hash string, list []byte) error
	// DropChunkList forgets the list of hash; none is no error.
	DropChunkList(ctx context.Context, id, hash string) error
}
