package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// loop is Run's loop: one goroutine that owns every decision while the engine runs.
// Each input has its handler: a batch of local changes (onLocal), a watcher overflow
// (onOverflow), a message of the live connection (onStream), the polling tick (onPoll),
// the rescan tick (onRescan), the retry timer (onRetry) and the save tick (onSave).
// After each input, afterInput acts on server events that a catch-up applied and runs
// a full reconcile when one is due.
type loop struct {
	*Engine
	ctx      context.Context
	msgs     chan streamMsg // from streamLoop
	streamUp bool           // the live connection is up
	// Unfinished keys are looked at again after retryEvery, doubling (to maxRetry)
	// while retries keep failing.
	retryEvery time.Duration
	retryT     *time.Timer
	// holdT fires when held deletes are due (delhold.go).
	holdT   *time.Timer
	rescans int // full local rescans so far; every fifth is a full reconcile
	// A full reconcile that cannot list the server is tried again after fullBackoff
	// (1 s doubling, at most the polling interval), not before nextFull.
	nextFull    time.Time
	fullBackoff time.Duration
	// --initial-sync bars belong to the first full reconcile that gets as far as
	// executing: one that fails before (no list yet) passes them on to the next.
	initialBars bool
	saveErr     chan error // a fatal error of a background save
	// feedDue: live events of a path-scoped token came; the changes feed is read
	// once after the burst (scopedFeed).
	feedDue bool
}

// Retry periods of keys whose last step did not finish.
const minRetry, maxRetry = 2 * time.Second, time.Minute

// Run syncs until ctx ends (then saves the state and returns nil) or a fatal error
// (ErrMassDelete, ErrRootVanished). It reconciles fully first, then follows local
// changes (fsnotify) and server changes (WebSocket with Realtime, else polling).
func (e *Engine) Run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, werr := newWatcher(e.rootPath, e.opts.Debounce, e.log)
	if werr != nil {
		return fmt.Errorf("watch: %w", werr)
	}
	e.watch = w
	go w.run(ctx)
	defer func() {
		if serr := e.save(); serr != nil && err == nil {
			err = serr
		}
	}()
	e.mu.Lock()
	e.retry = map[string]bool{}
	e.hold.on = true
	e.mu.Unlock()
	l := &loop{
		Engine: e, ctx: ctx, msgs: make(chan streamMsg, 1024),
		retryEvery: minRetry, fullBackoff: time.Second,
		initialBars: e.opts.InitialSync, saveErr: make(chan error, 1),
	}
	return l.run()
}

// run reconciles fully, then serves the inputs until ctx ends or a fatal error.
func (l *loop) run() error {
	if err := l.reconcile(); err != nil {
		return err
	}
	_ = l.save()
	if l.opts.Realtime {
		go l.streamLoop(l.ctx, l.msgs)
	}
	poll := time.NewTicker(l.opts.Interval)
	defer poll.Stop()
	rescan := time.NewTicker(l.opts.RescanInterval)
	defer rescan.Stop()
	saveT := time.NewTicker(time.Second)
	defer saveT.Stop()
	l.retryT = time.NewTimer(l.retryEvery)
	defer l.retryT.Stop()
	l.holdT = time.NewTimer(time.Hour)
	l.holdT.Stop()
	defer l.holdT.Stop()
	for {
		var err error
		select {
		case <-l.ctx.Done():
			return nil
		case batch := <-l.watch.batches:
			err = l.onLocal(batch)
		case <-l.watch.overflow:
			err = l.onOverflow()
		case sm := <-l.msgs:
			err = l.onStream(sm)
		case <-poll.C:
			err = l.onPoll()
		case <-rescan.C:
			err = l.onRescan()
		case <-l.retryT.C:
			err = l.onRetry()
		case <-l.holdT.C:
			err = l.onHeld()
		case <-saveT.C:
			err = l.onTick()
		case serr := <-l.saveErr:
			return serr
		}
		if err != nil {
			return err
		}
		if err := l.afterInput(); err != nil {
			return err
		}
		l.armHold()
	}
}

// fatal reports whether err must stop the engine.
func fatal(err error) bool {
	return errors.Is(err, ErrMassDelete) || errors.Is(err, ErrRootVanished)
}

// step takes the result of a pass: nil unless err must stop the engine. A failed
// pass is reported (once, not per retry) and makes a full reconcile due.
func (l *loop) step(res passResult, err error) error {
	if err == nil {
		if !res.retries {
			l.st.synced()
		}
		return nil
	}
	if fatal(err) {
		return err
	}
	if l.ctx.Err() != nil {
		return nil
	}
	if errors.Is(err, errResync) {
		l.mu.Lock()
		l.needFull = true
		l.mu.Unlock()
		return nil
	}
	if !l.st.noteErr(err) {
		l.st.failed(err)
		l.log.Warn("sync pass failed, will retry", "err", err)
	}
	l.mu.Lock()
	l.needFull = true
	l.mu.Unlock()
	return nil
}

// reconcile runs a full reconcile (with the --initial-sync bars until one executed):
// at the first start of an empty folder, from the archive of the tree (treeSync; what
// changes after it comes from the watcher, the changes feed or the live stream from
// its seq, and the retry timer).
func (l *loop) reconcile() error {
	res, handled, err := (&treeSync{e: l.Engine}).first(l.ctx)
	if !handled {
		res, err = l.fullSync(l.ctx, l.initialBars)
	}
	if err == nil {
		l.initialBars = false
	}
	return l.step(res, err)
}

// remoteStep acts on what applied server events changed.
func (l *loop) remoteStep() error {
	return l.step(l.remotePass(l.ctx))
}

// onLocal syncs a debounced batch of local changes.
func (l *loop) onLocal(batch []string) error {
	defer l.watch.passDone()
	return l.step(l.localPass(l.ctx, batch))
}

// onOverflow rescans all of DIR: the watcher lost events.
func (l *loop) onOverflow() error {
	return l.step(l.localFull(l.ctx))
}

// onStream takes a message of the live connection and whatever else is already
// queued, then plans once.
func (l *loop) onStream(sm streamMsg) error {
	err := l.handle(sm)
	for more := true; more && err == nil; {
		select {
		case sm := <-l.msgs:
			err = l.handle(sm)
		default:
			more = false
		}
	}
	if err == nil && l.feedDue {
		l.feedDue = false
		if cerr := l.catchUp(l.ctx); cerr != nil {
			err = l.step(passResult{}, cerr)
		}
	}
	if err == nil {
		err = l.remoteStep()
	}
	return err
}

// handle takes one message of the stream goroutine: the connection up or down, or a
// server message.
func (l *loop) handle(sm streamMsg) error {
	switch {
	case sm.up:
		l.streamUp = true
		l.mu.Lock()
		if sm.ack.Epoch != l.epoch {
			l.needFull = true
		}
		l.mu.Unlock()
	case sm.down:
		l.streamUp = false
	default:
		return l.onMessage(sm.msg)
	}
	return nil
}

// onMessage applies one server message: an event in seq order (a gap is repaired
// from the changes feed), a resync request, or an error to log.
func (l *loop) onMessage(m protocol.Message) error {
	switch m.Type {
	case protocol.TypeFileOperation:
		if scopedFeed(l.remote) {
			// A path-scoped token's events skip the seqs outside its paths and may
			// share one seq: the changes feed, read once after this burst, takes
			// them as complete (acceptScopedPage).
			l.feedDue = true
			return nil
		}
		ev := protocol.Event{Type: m.Type, Seq: m.Seq, SourceClient: m.SourceClient, SourceSubject: m.SourceSubject}
		if m.Operation != nil {
			ev.Operation = *m.Operation
		}
		l.mu.Lock()
		gap := l.offerEvents([]protocol.Event{ev})
		l.mu.Unlock()
		if gap {
			if err := l.catchUp(l.ctx); err != nil {
				if l.step(passResult{}, err) != nil {
					return err
				}
			}
		}
	case protocol.TypeResyncRequired:
		l.log.Info("server asks for a full resync")
		l.mu.Lock()
		l.needFull = true
		l.mu.Unlock()
	case protocol.TypeError:
		l.log.Warn("server error on the live connection", "code", string(m.Code), "message", m.Message)
	}
	return nil
}

// onPoll reads the changes feed, unless the live connection brings them.
func (l *loop) onPoll() error {
	if l.opts.Realtime && l.streamUp {
		return nil
	}
	if err := l.catchUp(l.ctx); err != nil {
		return l.step(passResult{}, err)
	}
	l.st.reached()
	return l.remoteStep()
}

// onRescan rescans all of DIR; every fifth time a full reconcile is due instead.
func (l *loop) onRescan() error {
	l.rescans++
	if l.rescans%5 == 0 {
		l.mu.Lock()
		l.needFull = true
		l.mu.Unlock()
		return nil
	}
	return l.step(l.localFull(l.ctx))
}

// onRetry looks again at the keys whose last step did not finish ("" stands for the
// ignore rules, which may have changed).
func (l *loop) onRetry() error {
	var err error
	l.mu.Lock()
	keys := l.retry
	l.retry = map[string]bool{}
	l.mu.Unlock()
	if keys[""] {
		delete(keys, "")
		if l.disk.loadIgnore() {
			err = l.step(l.localFull(l.ctx))
		}
	}
	if len(keys) > 0 && err == nil {
		err = l.step(l.retryKeys(l.ctx, keys))
		l.mu.Lock()
		again := len(l.retry) > 0
		l.mu.Unlock()
		if again {
			l.retryEvery = min(2*l.retryEvery, maxRetry)
		} else {
			l.retryEvery = minRetry
		}
	}
	l.retryT.Reset(l.retryEvery)
	return err
}

// armHold sets holdT for the held deletes, if any.
func (l *loop) armHold() {
	l.mu.Lock()
	due, ok := l.heldDue(l.opts.DeleteSettle)
	l.mu.Unlock()
	l.holdT.Stop()
	if ok {
		l.holdT.Reset(max(time.Until(due), time.Millisecond))
	}
}

// onHeld plans the held deletes again, with a fresh look at their paths: they go if
// no local deletion came meanwhile (and DIR is still there).
func (l *loop) onHeld() error {
	l.mu.Lock()
	keys := l.heldKeys()
	l.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	return l.step(l.retryKeys(l.ctx, keys))
}

// onTick runs every second: it checks that DIR is still the folder being synced, then
// saves the state. A folder replaced at once (a disk unmounted under its mount point,
// the folder renamed away) raises no event in the folder watched, whose watches
// follow the old directory: without this check the engine would go on until its next
// pass, taking changes made in the old directory for changes of DIR.
func (l *loop) onTick() error {
	if err := l.checkRoot(); err != nil {
		return err
	}
	l.onSave()
	return nil
}

// onSave saves the state in the background: syncfs and the write must not delay
// events. A fatal error comes back on saveErr.
func (l *loop) onSave() {
	if !l.saving.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer l.saving.Store(false)
		if serr := l.save(); serr != nil {
			if fatal(serr) {
				l.saveErr <- serr
				return
			}
			l.log.Warn("cannot save state", "err", serr)
		}
	}()
}

// afterInput acts on events a catch-up applied (after a 412, a gap), then runs a full
// reconcile when one is due and its backoff allows.
func (l *loop) afterInput() error {
	l.mu.Lock()
	pendingRemote := len(l.batchTouched) > 0
	l.mu.Unlock()
	if pendingRemote {
		if err := l.remoteStep(); err != nil {
			return err
		}
	}
	l.mu.Lock()
	full := l.needFull && !time.Now().Before(l.nextFull)
	if full {
		l.needFull = false
	}
	l.mu.Unlock()
	if !full || l.ctx.Err() != nil {
		return nil
	}
	if err := l.reconcile(); err != nil {
		return err
	}
	l.mu.Lock()
	failed := l.needFull
	l.mu.Unlock()
	if failed {
		// Back off while the server cannot be listed.
		l.nextFull = time.Now().Add(l.fullBackoff)
		l.fullBackoff = min(2*l.fullBackoff, max(l.opts.Interval, time.Second))
	} else {
		l.fullBackoff = time.Second
	}
	return nil
}

// streamMsg is what the stream goroutine tells the loop.
type streamMsg struct {
	up   bool
	down bool
	ack  protocol.Message
	msg  protocol.Message
}

// streamLoop keeps a subscription open, retrying on the schedule of reconnect
// (reconnect.go): exponential backoff with jitter capped at 30 s, and a retry every
// second for a minute after the server closed with 1001 or 1012.
func (l *loop) streamLoop(ctx context.Context, out chan<- streamMsg) {
	rc := newReconnect(0)
	send := func(m streamMsg) bool {
		select {
		case out <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		l.mu.Lock()
		since, epoch, id := l.seq, l.epoch, l.clientID
		l.mu.Unlock()
		if epoch == "" {
			since = -1
		}
		st, ack, err := l.remote.Subscribe(ctx, id, since, epoch)
		if err == nil {
			started := time.Now()
			l.st.streamUp(ack.Seq)
			if !send(streamMsg{up: true, ack: ack}) {
				st.Close()
				return
			}
			for {
				m, rerr := st.Recv(ctx)
				if rerr != nil {
					err = rerr
					break
				}
				if !send(streamMsg{msg: m}) {
					st.Close()
					return
				}
			}
			st.Close()
			if !send(streamMsg{down: true}) {
				return
			}
			rc.connected(time.Since(started), closeCodeOf(err), time.Now())
		}
		if ctx.Err() != nil {
			return
		}
		d := rc.next(time.Now())
		l.st.streamDown(err, d)
		l.st.noteErr(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}
