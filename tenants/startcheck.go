package tenants

import (
	"context"
	"log/slog"
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
//
// The space's counters (bytes used, entries), which the index gives by reading every
// entry, are loaded in the background too (countLater): until they are, commits and
// the checks of limits wait for them (waitCounted), reads do not.
type startCheck struct {
	pending atomic.Bool // the check has not finished yet
	began   time.Time   // when the space was opened; set before pending
	done    chan struct{}
	once    sync.Once
	counted chan struct{} // closed once the counters are loaded; nil: loaded at open

	// Directories reconciled since the space opened: compared with the index, or
	// skipped because their stamp matched (dirstamp.go).
	compared, skipped atomic.Int64
}

// deferCheck marks the start-up check as left to the watcher, and the loading of the
// counters to countLater.
func (c *startCheck) deferCheck() {
	c.began = time.Now()
	c.done = make(chan struct{})
	c.counted = make(chan struct{})
	c.pending.Store(true)
}

// waitCounted waits until the space's counters are loaded.
func (c *startCheck) waitCounted() {
	if c.counted != nil {
		<-c.counted
	}
}

// countLater loads s's counters in the background (deferCheck), retrying every
// second while the index fails, until done or the space is closed.
func (c *startCheck) countLater(s *reconciler) {
	if c.counted == nil {
		return
	}
	go func() {
		defer close(c.counted)
		for {
			err := s.rc.loadCounters(context.Background())
			if err == nil || s.isClosed() {
				return
			}
			s.log.Warn("load the tenant's counters", "err", err)
			time.Sleep(time.Second)
		}
	}()
}

// finish marks the check done (once), which it logs; report, if not nil, runs first
// (before done closes). The watcher calls it after a scan that left nothing to look
// at again: the first one completes the check.
func (c *startCheck) finish(log *slog.Logger, report func()) {
	if !c.pending.Load() {
		return
	}
	c.once.Do(func() {
		log.Info("start-up disk check done", "took", time.Since(c.began).Round(time.Millisecond),
			"dirs_compared", c.compared.Load(), "dirs_unchanged", c.skipped.Load())
		if report != nil {
			report()
		}
		c.pending.Store(false)
		close(c.done)
	})
}

// finishStartCheck completes the start-up check (startCheck.finish), warning when
// what it found on disk leaves the space over its entry limit or quota: files placed
// in the data dir are indexed whatever the limits (they are the tenant's data), and
// uploads that add entries or bytes are refused (413) until some are removed.
func finishStartCheck(ctx context.Context, s *Space) {
	s.start.finish(s.log, func() { warnOverLimits(ctx, s) })
}

func warnOverLimits(ctx context.Context, s *Space) {
	s.start.waitCounted()
	u, err := s.Usage(ctx)
	if err != nil {
		return
	}
	if u.MaxEntries > 0 && u.Entries > u.MaxEntries {
		s.log.Warn("the tenant is over its entry limit after the start-up disk check: new files and directories are refused",
			"entries", u.Entries, "max_entries", u.MaxEntries)
	}
	if u.Quota > 0 && u.Used > u.Quota {
		s.log.Warn("the tenant is over its quota after the start-up disk check: uploads that grow it are refused",
			"used", u.Used, "quota", u.Quota)
	}
}

// runNow runs a deferred check at once, in s (the watcher could not start).
func (c *startCheck) runNow(ctx context.Context, s *reconciler) {
	if !c.pending.Load() {
		return
	}
	if _, err := s.rc.reconcile(ctx, "", true); err != nil {
		s.log.Warn("start-up disk check", "err", err)
	}
	finishStartCheck(ctx, s.Space)
}

// checkName is called by reads of the file p while the start-up check is pending: it
// reconciles p alone (a stat, and a hash if size or mtime differ from the index), so
// that a file changed by hand while syncd was down is not served with stale metadata.
// Errors are logged: the read then answers from the index as it is.
func (s *reconciler) checkName(ctx context.Context, p string) {
	if !s.start.pending.Load() || s.disk == nil || s.isClosed() {
		return
	}
	if _, _, err := s.rc.reconcileName(ctx, p, false); err != nil && ctx.Err() == nil && protocol.CodeOf(err) != protocol.CodeNotFound {
		s.log.Warn("start-up check of a read path", "path", p, "err", err)
	}
}
