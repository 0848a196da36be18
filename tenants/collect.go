// Once-only job of cluster mode: the blob garbage collector, run on the leader.

package tenants

import (
	"context"
	"sync/atomic"
	"time"
)

// BlobCollector removes content that no file or version refers to any more, after a
// grace period (tenants/casblobs.Collector, in cluster mode). The registry runs it
// on the leader only (Deps.Leader), every Deps.CollectEvery.
type BlobCollector interface {
	// Collect runs one pass and returns how many blobs and bytes it removed.
	Collect(ctx context.Context) (blobs, bytes int64, err error)
}

// collector is the registry's side of a BlobCollector.
type collector struct {
	c     BlobCollector // nil: none (one node: removals free the disk at once)
	every time.Duration
	blobs atomic.Int64 // removed since start (Stats)
	bytes atomic.Int64
}

// run calls collect every c.every (0: every minute) until ctx ends, on a goroutine
// of its own: a pass may take long (listing a store) and must not hold up Run's
// polls. It returns at once without a collector.
func (c *collector) run(ctx context.Context, collect func(context.Context)) (done <-chan struct{}) {
	ch := make(chan struct{})
	if c.c == nil {
		close(ch)
		return ch
	}
	every := c.every
	if every <= 0 {
		every = pruneInterval
	}
	go func() {
		defer close(ch)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				collect(ctx)
			}
		}
	}()
	return ch
}

// collect runs one pass on the leader. Errors are logged.
func (r *Registry) collect(ctx context.Context) {
	if !leading(ctx, r.leader) {
		return
	}
	n, b, err := r.gc.c.Collect(ctx)
	r.gc.blobs.Add(n)
	r.gc.bytes.Add(b)
	if err != nil && ctx.Err() == nil {
		r.log.Warn("collect unreferenced blobs", "err", err)
	}
}
