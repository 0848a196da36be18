package tenants

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// startCheck is the state of a space's start-up check: the comparison of the disk
// with the index that finds what was changed by hand while syncd was down. A server
// (StartWatchers) does not hold a space's opening until it is done: the watcher's
// first full scan runs it in the background while requests are served from the
// index, which stays the authority. Until it is done, a read of one file first
// compares that file's disk state with its entry (checkName), so that what it
// answers matches the content it serves.
type startCheck struct {
	pending atomic.Bool // the check has not finished yet
	began   time.Time   // when the space was opened; set before pending
	done    chan struct{}
	once    sync.Once
}

// deferCheck marks the start-up check as left to the watcher.
func (c *startCheck) deferCheck() {
	c.began = time.Now()
	c.done = make(chan struct{})
	c.pending.Store(true)
}

// finish marks the check done (once) and reports whether this call did it.
func (c *startCheck) finish() bool {
	if !c.pending.Load() {
		return false
	}
	did := false
	c.once.Do(func() {
		c.pending.Store(false)
		close(c.done)
		did = true
	})
	return did
}

// StartCheckDone returns a channel closed once the space's start-up check of the disk
// has finished (at once if it was done while the space was opened, or the space has
// no local disk).
func (s *Space) StartCheckDone() <-chan struct{} {
	if s.start.done == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return s.start.done
}

// checkName is called by reads of the file p while the start-up check is pending: it
// reconciles p alone (a stat, and a hash if size or mtime differ from the index), so
// that a file changed by hand while syncd was down is not served with stale metadata.
// Errors are logged: the read then answers from the index as it is.
func (s *reconciler) checkName(ctx context.Context, p string) {
	if !s.start.pending.Load() || s.disk == nil || s.isClosed() {
		return
	}
	if _, _, err := s.rc.reconcileName(ctx, p); err != nil && ctx.Err() == nil && protocol.CodeOf(err) != protocol.CodeNotFound {
		s.log.Warn("start-up check of a read path", "path", p, "err", err)
	}
}

// startCheckFinished is called by the watcher after a scan that left nothing to look
// at again: the first one completes the start-up check.
func (s *reconciler) startCheckFinished() {
	if s.start.finish() {
		s.log.Info("start-up disk check done", "took", time.Since(s.start.began).Round(time.Millisecond))
	}
}

// checkNow runs a deferred start-up check at once (the watcher could not start).
func (s *reconciler) checkNow(ctx context.Context) {
	if !s.start.pending.Load() {
		return
	}
	if _, err := s.rc.reconcile(ctx, "", true); err != nil {
		s.log.Warn("start-up disk check", "err", err)
	}
	s.rc.startCheckFinished()
}
