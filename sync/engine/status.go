package engine

import (
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Mode is how the engine follows the server right now (SPEC §1, `status`).
type Mode string

// Modes.
const (
	// ModeLive: the WebSocket subscription is up; changes arrive as they happen.
	ModeLive Mode = "live"
	// ModePolling: the server answers over HTTP but changes are fetched every
	// Interval (no --realtime, or the WebSocket is down: Status.Reason says why).
	ModePolling Mode = "polling"
	// ModeOffline: the server cannot be reached (Status.Reason says why), or the
	// engine has not reached it yet.
	ModeOffline Mode = "offline"
)

// Status is a snapshot of what the engine is doing, for `realtime-sync-client status`.
// Zero times mean "never".
type Status struct {
	Mode Mode
	// Reason says why the mode is polling or offline ("" when live).
	Reason string
	// Since is when the current mode began.
	Since time.Time
	// LastSync is when a pass last finished with both sides in agreement (nothing left
	// to retry) while the server was reachable, or the live connection came up.
	LastSync time.Time
	// Epoch and Seq are the change-log position applied so far.
	Epoch string
	Seq   int64
	// PendingUploads and PendingDownloads count the transfers planned and not yet
	// done (in the pass under way, or left to retry).
	PendingUploads, PendingDownloads int
	// ConflictCopies counts the conflict copies this engine made since Open.
	ConflictCopies int64
	// Refused counts local names kept but not synced: refused by the path rules (or
	// colliding in case or Unicode form) at the last full scan, or refused by the
	// server.
	Refused int
	// LastError is the error of the last pass that failed while the server answered
	// (e.g. the token refused), "" once a pass succeeds again.
	LastError string
}

// tracker keeps what Status reports and logs the changes of mode: a live connection
// lost is one WARN with its cause (later failed attempts are DEBUG), back up is INFO;
// the server unreachable is one WARN, reachable again INFO. It has its own lock, never
// held while calling out.
type tracker struct {
	log      *slog.Logger
	realtime bool
	interval time.Duration
	changed  chan struct{}

	mu           sync.Mutex
	live         bool
	liveSince    time.Time
	streamErr    string    // why the live connection is down ("" = not tried yet)
	streamSince  time.Time // when it went down
	offline      string    // why the server is unreachable ("" = reachable)
	offlineSince time.Time
	reachedOnce  bool
	mode         Mode
	modeSince    time.Time
	lastSync     time.Time
	lastErr      string
	conflicts    int64
	unsynced     int
	pending      map[string]bool // key → true for an upload, false for a download
}

func newTracker(log *slog.Logger, realtime bool, interval time.Duration) *tracker {
	t := &tracker{
		log: log, realtime: realtime, interval: interval, changed: make(chan struct{}, 1),
		mode: ModeOffline, modeSince: time.Now(), pending: map[string]bool{},
	}
	return t
}

// status returns the mode and its reason. Caller holds t.mu.
func (t *tracker) current() (Mode, string) {
	switch {
	case t.live:
		return ModeLive, ""
	case t.offline != "":
		return ModeOffline, t.offline
	case !t.reachedOnce:
		return ModeOffline, "not connected yet"
	case !t.realtime:
		return ModePolling, "--realtime not given: polling every " + t.interval.String()
	case t.streamErr == "":
		return ModePolling, "live connection not up yet"
	}
	return ModePolling, "live connection down: " + t.streamErr
}

// update recomputes the mode after a change (caller holds t.mu) and signals a change
// of mode on t.changed.
func (t *tracker) update(now time.Time) {
	m, _ := t.current()
	if m != t.mode {
		t.mode, t.modeSince = m, now
		select {
		case t.changed <- struct{}{}:
		default:
		}
	}
}

// streamUp records that the live connection is up.
func (t *tracker) streamUp(seq int64) {
	now := time.Now()
	t.mu.Lock()
	was, since := t.streamErr, t.streamSince
	t.live, t.liveSince, t.streamErr = true, now, ""
	t.reachedOnce = true
	back := t.offline != ""
	t.offline, t.offlineSince = "", time.Time{}
	t.lastSync = now
	t.update(now)
	t.mu.Unlock()
	if back {
		t.log.Info("server reachable again")
	}
	if was != "" {
		t.log.Info("live connection up again, polling stopped", "seq", seq, "was_down_for", now.Sub(since).Round(time.Millisecond).String())
	} else {
		t.log.Info("live connection up", "seq", seq)
	}
}

// streamDown records that a live connection ended or an attempt failed, with the
// wait before the next attempt. The first failure after being up (or at start) is a
// WARN with the cause; later ones are DEBUG.
func (t *tracker) streamDown(err error, retryIn time.Duration) {
	now := time.Now()
	t.mu.Lock()
	first := t.streamErr == ""
	t.live = false
	t.streamErr = err.Error()
	if first {
		t.streamSince = now
	}
	t.update(now)
	interval := t.interval
	t.mu.Unlock()
	if first {
		t.log.Warn("live connection down: falling back to polling until it is back", "err", err, "poll_every", interval.String(), "retry_in", retryIn.Round(time.Millisecond).String())
	} else {
		t.log.Debug("live connection attempt failed", "err", err, "retry_in", retryIn.Round(time.Millisecond).String())
	}
}

// unreachable records a request that got no answer: the first one is a WARN.
func (t *tracker) unreachable(err error) {
	now := time.Now()
	t.mu.Lock()
	first := t.offline == ""
	t.offline = err.Error()
	if first {
		t.offlineSince = now
	}
	t.update(now)
	t.mu.Unlock()
	if first {
		t.log.Warn("server unreachable: offline, will retry", "err", err)
	} else {
		t.log.Debug("server still unreachable", "err", err)
	}
}

// reached records an answer from the server.
func (t *tracker) reached() {
	now := time.Now()
	t.mu.Lock()
	back := t.offline != ""
	t.offline, t.offlineSince = "", time.Time{}
	t.reachedOnce = true
	t.update(now)
	t.mu.Unlock()
	if back {
		t.log.Info("server reachable again")
	}
}

// synced records a pass that ended in agreement (ignored while offline).
func (t *tracker) synced() {
	t.mu.Lock()
	if t.offline == "" && t.reachedOnce {
		t.lastSync = time.Now()
		t.lastErr = ""
	}
	t.mu.Unlock()
}

// failed records the error of a pass that failed although the server answered.
func (t *tracker) failed(err error) {
	t.mu.Lock()
	t.lastErr = err.Error()
	t.mu.Unlock()
}

// conflict counts one conflict copy.
func (t *tracker) conflict() {
	t.mu.Lock()
	t.conflicts++
	t.mu.Unlock()
}

// planned records the transfers of a plan over keys: every key of the plan loses
// its old pending transfer, then the plan's uploads and downloads are pending.
func (t *tracker) planned(keys map[string]bool, uploads, downloads []string) {
	t.mu.Lock()
	for k := range keys {
		delete(t.pending, k)
	}
	for _, k := range uploads {
		t.pending[k] = true
	}
	for _, k := range downloads {
		t.pending[k] = false
	}
	t.mu.Unlock()
}

// done records that the transfers of keys finished, except those in left.
func (t *tracker) done(keys []string, left map[string]bool) {
	t.mu.Lock()
	for _, k := range keys {
		if !left[k] {
			delete(t.pending, k)
		}
	}
	t.mu.Unlock()
}

// setUnsynced records the count of local names a full scan kept but did not sync.
func (t *tracker) setUnsynced(n int) {
	t.mu.Lock()
	t.unsynced = n
	t.mu.Unlock()
}

// noteErr looks at the error of a pass: an unreachable server makes the engine
// offline. It reports whether err was that (already logged).
func (t *tracker) noteErr(err error) bool {
	if err == nil || !errors.Is(err, ErrUnreachable) {
		return false
	}
	t.unreachable(err)
	return true
}

// Status returns what the engine is doing now.
func (e *Engine) Status() Status {
	e.mu.Lock()
	epoch, seq, refused := e.epoch, e.seq, len(e.refused)
	e.mu.Unlock()
	t := e.st
	t.mu.Lock()
	defer t.mu.Unlock()
	m, why := t.current()
	s := Status{
		Mode: m, Reason: why, Since: t.modeSince, LastSync: t.lastSync,
		Epoch: epoch, Seq: seq, ConflictCopies: t.conflicts, Refused: refused + t.unsynced,
		LastError: t.lastErr,
	}
	if m == ModeOffline && !t.offlineSince.IsZero() {
		s.Since = t.offlineSince
	}
	for _, up := range t.pending {
		if up {
			s.PendingUploads++
		} else {
			s.PendingDownloads++
		}
	}
	return s
}

// StatusChanged is signalled (without blocking, one pending signal at most) whenever
// the mode changes, so that a status writer can record it at once.
func (e *Engine) StatusChanged() <-chan struct{} { return e.st.changed }
