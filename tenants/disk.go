package tenants

import (
	"context"
	"math"
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
//
// Far from the floor a check needs no statfs: it reads the last exact figure (at most
// freeCacheAge old) less everything reserved since (reservedTotal), and passes when
// that still leaves freeCacheMargin above the floor (tryCached). Near the floor, or
// with an older figure, it takes mu and asks the file system, as every check did.
type diskBudget struct {
	mu       sync.Mutex // serialises check-and-reserve (and the pruning it may do)
	inflight atomic.Int64
	// reservedTotal is every byte ever reserved (never decreases): the bytes reserved
	// since a figure was taken are its difference.
	reservedTotal atomic.Int64
	// last is the last exact figure (nil: none yet).
	last atomic.Pointer[freeFigure]
	// cached says whether checks may use last: the file system's own figure
	// (Limits.FreeDisk nil). A probe given in Limits is asked on every check (tests
	// change it at will); tests of the cache set this and now themselves.
	cached bool
	now    func() time.Time // time.Now; a test's clock
}

// freeFigure is one exact free-disk figure and what was in flight when it was taken.
type freeFigure struct {
	free     int64     // bytes free (statfs)
	inflight int64     // inflight before the statfs
	reserved int64     // reservedTotal before the statfs
	at       time.Time // when (monotonic clock)
}

const (
	// freeCacheAge is how long an exact free figure serves checks far from the floor.
	freeCacheAge = 10 * time.Millisecond
	// freeCacheMargin is how far above the floor (after what the check would reserve)
	// a cached figure must leave the disk for the check to pass without statfs: the
	// room for writes the budget does not see (the index, other programs) within
	// freeCacheAge.
	freeCacheMargin = 64 << 20
)

// tryCached reserves n (adding it to inflight) without a statfs when the last exact
// figure is recent and, less every byte reserved since it was taken (this one
// included), still leaves freeCacheMargin above floor. It reports whether it did;
// false leaves nothing reserved, and the caller checks exactly.
//
// Why the estimate is never above the truth (but for unseen writes): an upload
// adds to inflight before it adds to reservedTotal and writes only what it reserved.
// The figure read reservedTotal, then inflight, then free; so every byte written after
// the statfs was either in the figure's inflight or reserved after its reservedTotal
// was read, and free now - inflight now >= free - inflight - (reservedTotal now -
// reserved).
func (b *diskBudget) tryCached(floor, n int64) bool {
	if !b.cached {
		return false
	}
	f := b.last.Load()
	if f == nil || b.now().Sub(f.at) > freeCacheAge {
		return false
	}
	b.inflight.Add(n)
	total := b.reservedTotal.Add(n)
	if f.free-f.inflight-(total-f.reserved) >= floor+freeCacheMargin {
		return true
	}
	// Near the floor: undo the in-flight bytes. reservedTotal keeps n, which only
	// lowers the estimates of this figure (the exact check takes a new one).
	b.inflight.Add(-n)
	return false
}

// take reads an exact free figure (statfs through free) and keeps it for tryCached.
// The caller holds mu.
func (b *diskBudget) take(free func() (uint64, error)) (uint64, error) {
	reserved := b.reservedTotal.Load()
	inflight := b.inflight.Load()
	n, err := free()
	if err != nil {
		return 0, err
	}
	if b.cached {
		b.last.Store(&freeFigure{free: int64(min(n, math.MaxInt64)), inflight: inflight, reserved: reserved, at: b.now()})
	}
	return n, nil
}

// add reserves n after an exact check (the caller holds mu).
func (b *diskBudget) add(n int64) {
	b.inflight.Add(n)
	b.reservedTotal.Add(n)
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
	if r.disk.tryCached(floor, n) {
		return nil
	}
	r.disk.mu.Lock()
	defer r.disk.mu.Unlock()
	batch := 1
	for {
		free, err := r.disk.take(r.freeDisk)
		if err != nil {
			return internal("check free disk", err)
		}
		inflight := r.disk.inflight.Load()
		if want := floor + inflight + n; want >= 0 && free >= uint64(want) {
			r.disk.add(n)
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
