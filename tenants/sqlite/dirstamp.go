package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.DirStamps = (*Store)(nil)

// DirStamp implements index.DirStamps.
func (r reads) DirStamp(ctx context.Context, id, dir string) ([]byte, error) {
	var b []byte
	err := r.Q().QueryRowContext(ctx, `SELECT stamp FROM tenant_dir_stamps WHERE tenant_id = ? AND dir = ?`, id, dir).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

// PutDirStamps implements index.DirStamps in one transaction of its own (outside the
// commits' batches).
func (r reads) PutDirStamps(ctx context.Context, id string, stamps []index.DirStamp) error {
	if len(stamps) == 0 {
		return nil
	}
	defer r.LockWrites()()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := r.InTx(tx)
	for _, s := range stamps {
		if _, err := q.ExecContext(ctx, `INSERT OR REPLACE INTO tenant_dir_stamps (tenant_id, dir, stamp) VALUES (?, ?, ?)`,
			id, s.Dir, s.Stamp); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// dropDirStamps drops, in w's transaction, the stamps of dir and of the directories
// under it.
func (w *writeTx) dropDirStamps(dir string) error {
	cond, args := SubtreeWhere("dir", dir)
	_, err := w.q.ExecContext(w.ctx, `DELETE FROM tenant_dir_stamps WHERE tenant_id = ? AND (dir = ? OR `+cond+`)`,
		append([]any{w.tid, dir}, args...)...)
	return err
}
