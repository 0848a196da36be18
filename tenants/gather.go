package tenants

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Gathering across tenants.
//
// A space's group commit (commit.go) lets its leader wait for the tenant's small
// uploads that are still being received, so that one tenant's concurrent uploads
// share a commit. Writes of many tenants share the index's transactions instead
// (tenants/sqlite's batcher), and each tenant then has one upload in flight or few:
// without a wait at that level, a batch took whatever few writes had queued while the
// previous one ran, and the 100-tenant commits of syncbench fell, in about half the
// runs, into a regime of batches of 2–3 writes (0.36–0.47 WAL commits a PUT against
// 0.09 in the others), each paying a WAL flush and a directory flush round of its own
// (docs/BENCHMARKS.md, "Commits: session 20").
//
// receivers counts the small uploads of every space whose body has been received in
// full and that have not yet joined their space's queue (their temp file's fsync, in
// the main), and the index's batch leader waits, through index.WriteOptions.Gather,
// at most maxGather for that count to drop to what its own space holds of it
// (groupCommit.flushing), as a space's leader waits for its own tenant's. Uploads
// still arriving over the network are not counted: a client trickling a small body
// would otherwise hold every tenant's index batches for the full wait.

// receivers counts the registry's small uploads between their body's end and their
// space's queue.
type receivers struct {
	n       atomic.Int64
	arrived chan struct{} // wakes a gathering batch leader (buffered 1)
	// wakeAt is the gathering leader's own space's count (groupCommit.flushing): done
	// wakes it when n falls to that count's current value (nil: 0).
	wakeAt atomic.Pointer[atomic.Int64]
	max    time.Duration // the longest wait (maxGather; tests set more)
}

func newReceivers() *receivers { return &receivers{arrived: make(chan struct{}, 1), max: maxGather} }

// add counts one more upload.
func (c *receivers) add() { c.n.Add(1) }

// done takes one upload off the count, waking a gathering leader when what is left
// may be only its own space's uploads (wakeAt, read after the count: its space may
// have gathered more since the leader looked, and a space counts its own upload
// before the registry's, so reading it last can only wake too often, never miss a
// wake); arrivals that end nothing wake nobody.
func (c *receivers) done() {
	n := c.n.Add(-1)
	var mine int64
	if own := c.wakeAt.Load(); own != nil {
		mine = own.Load()
	}
	if n <= mine {
		select {
		case c.arrived <- struct{}{}:
		default:
		}
	}
}

// gather waits, at most c.max, until no small upload of another space than the
// caller's (whose count is own) is between its body's end and its queue: the
// caller's space holds its commit section until the batch is over, so its own
// uploads cannot join the batch anyway. If it waited, it then yields once, so that
// the uploads that just arrived (each now leading its own space's batch) reach the
// index before the caller takes its batch.
func (c *receivers) gather(own *atomic.Int64) {
	c.wakeAt.Store(own)
	others := func() bool { return c.n.Load() > own.Load() }
	if !others() {
		return
	}
	t := time.NewTimer(c.max)
	defer t.Stop()
	for others() {
		select {
		case <-c.arrived:
		case <-t.C:
			runtime.Gosched()
			return
		}
	}
	runtime.Gosched()
}
