package pgindex

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.DirStamps = (*Store)(nil)

// dirStamps is the Store's index.DirStamps, promoted.
type dirStamps struct{ pool *pgxpool.Pool }

// DirStamp implements index.DirStamps.
func (s dirStamps) DirStamp(ctx context.Context, id, dir string) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT stamp FROM tenant_dir_stamps WHERE tenant_id = $1 AND dir = $2`, id, dir).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

// PutDirStamps implements index.DirStamps in one pipelined transaction.
func (s dirStamps) PutDirStamps(ctx context.Context, id string, stamps []index.DirStamp) error {
	if len(stamps) == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, st := range stamps {
			b.Queue(`INSERT INTO tenant_dir_stamps (tenant_id, dir, stamp) VALUES ($1, $2, $3)
				ON CONFLICT (tenant_id, dir) DO UPDATE SET stamp = EXCLUDED.stamp`, id, st.Dir, st.Stamp)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// dropDirStamps queues the removal of the stamps of dir and of the directories under
// it.
func (w *writeTx) dropDirStamps(dir string) {
	a := args{w.tid}
	w.queue(`DELETE FROM tenant_dir_stamps WHERE tenant_id = $1 AND `+tree(&a, "dir", dir), a...)
}
