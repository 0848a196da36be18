package pgindex

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.Chunks = (*Store)(nil)

// chunkLists is the Store's index.Chunks, promoted.
type chunkLists struct{ pool *pgxpool.Pool }

// ChunkList implements index.Chunks.
func (s chunkLists) ChunkList(ctx context.Context, id, hash string) ([]byte, error) {
	var list []byte
	err := s.pool.QueryRow(ctx, `SELECT list FROM tenant_chunks WHERE tenant_id = $1 AND hash = $2`, id, hash).Scan(&list)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return list, err
}

// PutChunkList implements index.Chunks.
func (s chunkLists) PutChunkList(ctx context.Context, id, hash string, list []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tenant_chunks (tenant_id, hash, list) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id, hash) DO UPDATE SET list = EXCLUDED.list`, id, hash, list)
	return err
}

// DropChunkList implements index.Chunks.
func (s chunkLists) DropChunkList(ctx context.Context, id, hash string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tenant_chunks WHERE tenant_id = $1 AND hash = $2`, id, hash)
	return err
}
