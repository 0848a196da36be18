package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.Chunks = (*Store)(nil)

// chunkLists is the Store's index.Chunks, promoted.
type chunkLists struct{ *Store }

// ChunkList implements index.Chunks.
func (r chunkLists) ChunkList(ctx context.Context, id, hash string) ([]byte, error) {
	var list []byte
	err := r.db.QueryRowContext(ctx, `SELECT list FROM tenant_chunks WHERE tenant_id = ? AND hash = ?`, id, hash).Scan(&list)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return list, err
}

// PutChunkList implements index.Chunks.
func (r chunkLists) PutChunkList(ctx context.Context, id, hash string, list []byte) error {
	defer r.LockWrites()()
	_, err := r.db.ExecContext(ctx, `INSERT OR REPLACE INTO tenant_chunks (tenant_id, hash, list) VALUES (?, ?, ?)`, id, hash, list)
	return err
}

// DropChunkList implements index.Chunks.
func (r chunkLists) DropChunkList(ctx context.Context, id, hash string) error {
	defer r.LockWrites()()
	_, err := r.db.ExecContext(ctx, `DELETE FROM tenant_chunks WHERE tenant_id = ? AND hash = ?`, id, hash)
	return err
}
