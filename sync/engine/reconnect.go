package engine

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// CloseError is wrapped by a Stream's Recv error when the server closed the
// connection with a close frame: Code is its WebSocket close code (SPEC §4).
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	if e.Text != "" {
		return "closed by the server with code " + strconv.Itoa(e.Code) + " (" + e.Text + ")"
	}
	return "closed by the server with code " + strconv.Itoa(e.Code)
}

// ErrUnreachable is wrapped by the Remote errors of requests that got no answer from
// the server at all (refused connection, DNS, TLS handshake, timeout): the engine
// reports itself offline on them.
var ErrUnreachable = errors.New("server unreachable")

// CloseServiceRestart is the WebSocket close code 1012 (service restart).
const CloseServiceRestart = 1012

// Reconnect timing of the live connection (SPEC §1).
const (
	reconnectMin     = 500 * time.Millisecond
	reconnectMax     = 30 * time.Second
	fastRetryEvery   = time.Second
	fastRetryJitter  = 500 * time.Millisecond
	fastRetryWindow  = time.Minute
	stableConnection = 10 * time.Second
)

// reconnect is the retry schedule of the live connection: exponential backoff with
// jitter, capped at 30 s; after the server closed with 1001 (going away) or 1012
// (service restart), a retry every second (jitter at most 0.5 s) for a minute first, so
// that a restarted server has its clients back within about a second of being ready.
// The zero value is not ready: use newReconnect.
type reconnect struct {
	backoff   time.Duration // next exponential step
	fastUntil time.Time     // end of the fast window (zero: none)
	window    time.Duration // length of the fast window
	// jitter returns a uniform value in [0, n]; nil means math/rand.
	jitter func(n int64) int64
}

func newReconnect(window time.Duration) *reconnect {
	if window <= 0 {
		window = fastRetryWindow
	}
	return &reconnect{backoff: reconnectMin, window: window}
}

func (r *reconnect) rand(n int64) int64 {
	if n <= 0 {
		return 0
	}
	if r.jitter != nil {
		return r.jitter(n)
	}
	return rand.Int64N(n + 1)
}

// connected is called when a connection ends after it was up for lived: a connection
// that lived a while resets the backoff. closeCode is the server's close code (0 when
// there was none); 1001 and 1012 open the fast window at now.
func (r *reconnect) connected(lived time.Duration, closeCode int, now time.Time) {
	if lived > stableConnection {
		r.backoff = reconnectMin
	}
	if closeCode == protocol.CloseGoingAway || closeCode == CloseServiceRestart {
		r.fastUntil = now.Add(r.window)
		r.backoff = reconnectMin
	}
}

// next returns how long to wait before the next attempt, made at now.
func (r *reconnect) next(now time.Time) time.Duration {
	if now.Before(r.fastUntil) {
		// 1 s ± 0.5 s.
		return fastRetryEvery - fastRetryJitter + time.Duration(r.rand(int64(2*fastRetryJitter)))
	}
	// Jitter over [backoff/2, backoff].
	d := r.backoff/2 + time.Duration(r.rand(int64(r.backoff/2)))
	r.backoff = min(2*r.backoff, reconnectMax)
	return d
}

// closeCodeOf returns the server's close code carried by err (0 if none).
func closeCodeOf(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
