package pgindex

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.UndoLeaser = (*Store)(nil)

// undoLeases is index.UndoLeaser over the head rows' undo_until (the database's
// clock), promoted into Store.
type undoLeases struct{ pool *pgxpool.Pool }

// LeaseUndo implements index.UndoLeaser. It updates the head row, whose lock orders
// it with every Write: a Write that locks the row after it sees the lease (Write's
// first statement reads it from the row it locks, as it is after the lock), so every
// change committed after the caller's next read of the head keeps undo rows.
func (u undoLeases) LeaseUndo(ctx context.Context, id string, d time.Duration) error {
	ct, err := u.pool.Exec(ctx, `UPDATE tenant_heads SET undo_until = greatest(undo_until, now() + make_interval(secs => $2))
		WHERE tenant_id = $1`, id, d.Seconds())
	if err == nil && ct.RowsAffected() == 0 {
		return index.ErrNoTenant
	}
	return err
}
