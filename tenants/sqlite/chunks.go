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

// hasContent is the condition "a file entry of the list's tenant has its content",
// for a statement on tenant_chunks c. Lists exist only for contents of
// chunk.MinDeltaSize (1 MiB) or more (index.Chunks), so the condition names that size
// and the partial index tenant_entries_big_hash answers it: the entries of smaller
// files, most of them, are not in that index, and their commits do not write it.
const hasContent = `EXISTS (SELECT 1 FROM tenant_entries e INDEXED BY tenant_entries_big_hash
	WHERE e.tenant_id = c.tenant_id AND e.hash = c.hash AND e.is_dir = 0 AND e.size >= 1048576)`

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

// dropUnused deletes the list of tenant ? and hash ? if no file has its content.
const dropUnused = `DELETE FROM tenant_chunks AS c WHERE c.tenant_id = ? AND c.hash = ? AND NOT ` + hasContent

// DropChunkList implements index.Chunks.
func (r chunkLists) DropChunkList(ctx context.Context, id, hash string) error {
	unlock, err := r.lockMerged(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = r.db.ExecContext(ctx, dropUnused, id, hash)
	return err
}

// SweepChunkLists implements index.Chunks: one read of the page of keys (each with
// one probe of tenant_entries_big_hash), then one transaction, under the write lock,
// that drops the unreferenced ones, checking each again.
func (r chunkLists) SweepChunkLists(ctx context.Context, from index.ChunkKey, limit int) (index.ChunkKey, int, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT c.tenant_id, c.hash, `+hasContent+` FROM tenant_chunks AS c
		WHERE (c.tenant_id, c.hash) > (?, ?) ORDER BY c.tenant_id, c.hash LIMIT ?`, from.TenantID, from.Hash, limit)
	if err != nil {
		return index.ChunkKey{}, 0, err
	}
	var last index.ChunkKey
	var unused []index.ChunkKey
	n := 0
	for rows.Next() {
		var used bool
		if err := rows.Scan(&last.TenantID, &last.Hash, &used); err != nil {
			rows.Close()
			return index.ChunkKey{}, 0, err
		}
		n++
		if !used {
			unused = append(unused, last)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return index.ChunkKey{}, 0, err
	}
	if n < limit {
		last = index.ChunkKey{}
	}
	dropped, err := r.dropKeys(ctx, unused)
	return last, dropped, err
}

// dropKeys drops, in one transaction, the lists of keys that no file has the content
// of now.
func (r chunkLists) dropKeys(ctx context.Context, keys []index.ChunkKey) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	unlock, err := r.lockMerged(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	dropped := 0
	for _, k := range keys {
		res, err := tx.ExecContext(ctx, dropUnused, k.TenantID, k.Hash)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err == nil {
			dropped += int(n)
		}
	}
	return dropped, tx.Commit()
}
