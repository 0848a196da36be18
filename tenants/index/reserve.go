package index

import (
	"context"
	"errors"
)

// ErrOverQuota is Reserve's error when the bytes do not fit the tenant's quota.
var ErrOverQuota = errors.New("index: over quota")

// Reserver reserves the bytes of uploads in progress against a tenant's quota, in
// the index, for every process that writes the tenant (tenants/pgindex.Reservations:
// the nodes of a cluster), so that an upload that cannot fit is refused before its
// body is read, not after. One process (tenants/sqlite) needs none: it keeps its
// reservations in memory.
type Reserver interface {
	// Reserve holds n > 0 bytes of the tenant's quota until Release, or until a
	// commit releases it (ReleaseTx), and returns its id; ErrOverQuota if the tenant's
	// used bytes, the bytes reserved and n exceed its quota (none when the quota is
	// 0). A reservation of a process that dies ends on its own after a lease.
	Reserve(ctx context.Context, tenantID string, n int64) (id string, err error)
	// Release ends the reservation id (an ended one is no error).
	Release(ctx context.Context, tenantID, id string) error
	// Maintain keeps this process's reservations alive and ends those of processes
	// gone; the registry calls it every second.
	Maintain(ctx context.Context)
}

// ReleaseTx is a Tx of the index a Reserver keeps its reservations in:
// ReleaseReservations ends reservations in the write transaction, so that the bytes
// they held become used bytes in one step.
type ReleaseTx interface {
	ReleaseReservations(ids []string) error
}
