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

// hasContent is the condition "a file entry of the list's tenant has its content",
// for a statement on tenant_chunks c (tenant_entries_hash answers it).
const hasContent = `EXISTS (SELECT 1 FROM tenant_entries e WHERE e.tenant_id = c.tenant_id AND e.hash = c.hash AND NOT e.is_dir)`

// DropChunkList implements index.Chunks.
func (s chunkLists) DropChunkList(ctx context.Context, id, hash string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tenant_chunks c WHERE c.tenant_id = $1 AND c.hash = $2 AND NOT `+hasContent, id, hash)
	return err
}

// SweepChunkLists implements index.Chunks in one statement: the page of keys, each
// with one probe of tenant_entries_hash, and the deletion of the unreferenced ones
// (their condition checked again on the row deleted); it answers the page's last key
// and the number dropped.
func (s chunkLists) SweepChunkLists(ctx context.Context, from index.ChunkKey, limit int) (index.ChunkKey, int, error) {
	var next index.ChunkKey
	var n, dropped int
	err := s.pool.QueryRow(ctx, `WITH page AS (
			SELECT c.tenant_id, c.hash, `+hasContent+` AS used FROM tenant_chunks c
			WHERE (c.tenant_id, c.hash) > ($1, $2) ORDER BY c.tenant_id, c.hash LIMIT $3),
		gone AS (
			DELETE FROM tenant_chunks c USING page p
			WHERE NOT p.used AND c.tenant_id = p.tenant_id AND c.hash = p.hash AND NOT `+hasContent+`
			RETURNING 1)
		SELECT coalesce((SELECT tenant_id FROM page ORDER BY tenant_id DESC, hash DESC LIMIT 1), ''),
			coalesce((SELECT hash FROM page ORDER BY tenant_id DESC, hash DESC LIMIT 1), ''),
			(SELECT count(*) FROM page), (SELECT count(*) FROM gone)`,
		from.TenantID, from.Hash, limit).Scan(&next.TenantID, &next.Hash, &n, &dropped)
	if err != nil {
		return index.ChunkKey{}, 0, err
	}
	if n < limit {
		next = index.ChunkKey{}
	}
	return next, dropped, nil
}
