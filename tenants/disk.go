package tenants

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// diskBudget holds limits.MinFreeDisk against uploads in progress. inflight counts
// the bytes uploads have announced (Content-Length) or reserved step by step (bodies
// of unknown length) but not yet written; written bytes show in the file system's
// free figure instead. A free-space check subtracts inflight, so concurrent uploads
// cannot together cross the floor, and each upload checks again every reserveStep
// bytes of body.
type diskBudget struct {
	mu       sync.Mutex // serialises check-and-reserve (and the pruning it may do)
	inflight atomic.Int64
}

// freeDisk returns the bytes free for the data dir (Limits.FreeDisk if set).
func (r *Registry) freeDisk() (uint64, error) {
	if r.limits.FreeDisk != nil {
		return r.limits.FreeDisk()
	}
	return r.blobs.Free()
}

// tracksDisk reports whether free disk is checked at all (limits.MinFreeDisk set).
func (r *Registry) tracksDisk() bool { return r.limits.MinFreeDisk > 0 }

// reserveDisk checks that n more bytes, on top of every upload's in-flight bytes,
// still leave limits.MinFreeDisk free, and adds n to the in-flight bytes. When they
// would not, it prunes versions, the writing tenant's (tenantID) oldest first, then
// the oldest of all tenants (SPEC §3), until they do; insufficient_storage if no
// version is left to prune. n = 0 is a check only. Without a floor it does nothing.
func (r *Registry) reserveDisk(ctx context.Context, tenantID string, n int64) error {
	floor := r.limits.MinFreeDisk
	if floor <= 0 {
		return nil
	}
	r.disk.mu.Lock()
	defer r.disk.mu.Unlock()
	batch := 1
	for {
		free, err := r.freeDisk()
		if err != nil {
			return internal("check free disk", err)
		}
		inflight := r.disk.inflight.Load()
		if want := floor + inflight + n; want >= 0 && free >= uint64(want) {
			r.disk.inflight.Add(n)
			return nil
		}
		if err := ctx.Err(); err != nil {
			return wrapInternal("check free disk", err)
		}
		pruned, err := r.pruneForDisk(ctx, tenantID, batch)
		if err != nil {
			return internal("prune versions", err)
		}
		if pruned == 0 {
			r.log.Warn("disk nearly full and no versions left to prune", "free", free, "min_free_disk", floor, "in_flight", inflight)
			return protocol.Errorf(protocol.CodeInsufficientStorage, "the server's disk is full")
		}
		r.log.Info("pruned oldest versions for free disk", "count", pruned)
		// Few at first, so that little history goes beyond what the write needs.
		batch = min(batch*2, 64)
	}
}

// releaseDisk takes n bytes off the in-flight bytes (written, or not coming).
func (r *Registry) releaseDisk(n int64) {
	if n != 0 {
		r.disk.inflight.Add(-n)
	}
}

// InFlightDisk returns the upload bytes reserved against limits.MinFreeDisk and not
// yet written (for tests and diagnostics).
func (r *Registry) InFlightDisk() int64 { return r.disk.inflight.Load() }

// pruneForDisk removes up to n versions: the tenant's oldest, or when it has none,
// the oldest of all tenants. It returns how many it removed.
func (r *Registry) pruneForDisk(ctx context.Context, tenantID string, n int) (int, error) {
	if tenantID != "" {
		got, err := r.dropVersions(ctx, tenantID, time.Time{}, n)
		if got > 0 || err != nil {
			return got, err
		}
	}
	return r.pruneOldest(ctx, n)
}
