package casblobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrStalled is the cause of a call to the object store or the book given up after
// Options.StallTimeout without progress.
var ErrStalled = errors.New("casblobs: the blob store made no progress")

// watchdog is a context that ends once d passed without progress: the object store's
// client and the book stop waiting for a service that stopped answering (an S3 server
// or a proxy that holds the connection open and sends nothing, which neither TCP nor
// the client's own timeouts end: the S3 client retries a missing answer ten times and
// never bounds a body that stops moving).
type watchdog struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	d      time.Duration
}

func newWatchdog(d time.Duration) *watchdog { return newWatchdogIn(context.Background(), d) }

// newWatchdogIn is newWatchdog under parent (the call also ends with parent).
func newWatchdogIn(parent context.Context, d time.Duration) *watchdog {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watchdog{ctx: ctx, cancel: cancel, d: d}
	w.timer = time.AfterFunc(d, func() { cancel(ErrStalled) })
	return w
}

// progress gives the call another d from now.
func (w *watchdog) progress() { w.timer.Reset(w.d) }

// stop ends the context (the call is over).
func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(nil)
}

// explain names the stall as the cause of err when the watchdog ended the call.
func (w *watchdog) explain(err error) error {
	if err != nil && !errors.Is(err, ErrStalled) && errors.Is(context.Cause(w.ctx), ErrStalled) {
		return fmt.Errorf("%w after %v: %w", ErrStalled, w.d, err)
	}
	return err
}

// progressReader reports each read that moved content to its watchdog.
type progressReader struct {
	r io.Reader
	w *watchdog
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.w.progress()
	}
	return n, err
}
