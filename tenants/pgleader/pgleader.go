// Package pgleader is the tenants.Leader of cluster mode: the node holding a
// PostgreSQL session advisory lock (pg_try_advisory_lock) on a connection of its own
// runs the once-only jobs. The lock goes with the connection: a node that dies or
// loses its connection loses it, and another node takes it at its next attempt; a
// node that lost its connection connects again and tries again.
package pgleader

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/tenants"
)

var (
	_ tenants.Leader    = (*Leader)(nil)
	_ tenants.Confirmer = (*Leader)(nil)
)

// DefaultKey is the advisory lock key of the once-only jobs ("syncjobs" in ASCII);
// the schema migrations use another.
const DefaultKey int64 = 0x73796e636a6f6273

// Options tune a Leader; the zero value is the production setting.
type Options struct {
	// Key is the advisory lock key; 0 means DefaultKey. Tests sharing a server use
	// their own.
	Key int64
	// Interval is how often a follower tries to take the lock and a leader checks
	// that its connection is alive; 0 means 5 s.
	Interval time.Duration
	// Logger receives leadership changes; nil means slog.Default().
	Logger *slog.Logger
}

// Leader tries to hold the lock until Close.
type Leader struct {
	url     string
	opts    Options
	leading atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	conn    *pgx.Conn // the lock's connection; only the loop's goroutine uses it
}

// Start begins trying to take the lock on the database at url (a libpq URL or
// key=value string); the first attempt is made before it returns.
func Start(ctx context.Context, url string, opts Options) *Leader {
	if opts.Key == 0 {
		opts.Key = DefaultKey
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Leader{url: url, opts: opts, done: make(chan struct{})}
	l.attempt(ctx)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.loop(loopCtx)
	return l
}

// Leading reports whether this node holds the lock as of the last check: up to
// Options.Interval after the lock's connection died it still says true, while
// another node may already hold the lock. Confirm before acting on it.
func (l *Leader) Leading() bool { return l.leading.Load() }

// confirmTimeout bounds Confirm's round trip.
const confirmTimeout = 2 * time.Second

// Confirm reports whether this node holds the lock now: it checks, with a round trip
// on the lock's own connection (bounded by confirmTimeout), that the session holding
// the lock is alive; a session-level advisory lock is held exactly as long as its
// session lives, so no other node held it when the round trip succeeded. A failed
// round trip drops the connection and the leadership at once (the loop connects
// again and tries to take the lock at its next attempt). The registry calls it before
// each once-only job, so that a node whose lock connection died (killed, cut by a
// proxy) does not run a job beside the node that took the lock over.
func (l *Leader) Confirm(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leading.Load() || l.conn == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	if err := l.conn.Ping(ctx); err != nil {
		l.drop(err)
		return false
	}
	return true
}

func (l *Leader) loop(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.attempt(ctx)
		}
	}
}

// attempt connects if needed and takes the lock, or checks that the connection that
// holds it is alive.
func (l *Leader) attempt(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, max(l.opts.Interval, 5*time.Second))
	defer cancel()
	if l.conn == nil {
		c, err := pgx.Connect(actx, l.url)
		if err != nil {
			l.set(false, err)
			return
		}
		l.conn = c
	}
	if l.leading.Load() {
		if err := l.conn.Ping(actx); err != nil {
			l.drop(err)
		}
		return
	}
	var got bool
	if err := l.conn.QueryRow(actx, "SELECT pg_try_advisory_lock($1)", l.opts.Key).Scan(&got); err != nil {
		l.drop(err)
		return
	}
	l.set(got, nil)
}

// drop forgets a broken connection (and the lock with it).
func (l *Leader) drop(err error) {
	l.conn.Close(context.Background())
	l.conn = nil
	l.set(false, err)
}

func (l *Leader) set(leading bool, err error) {
	if l.leading.Swap(leading) != leading {
		if leading {
			l.opts.Logger.Info("this node runs the once-only jobs now")
		} else {
			l.opts.Logger.Warn("this node no longer runs the once-only jobs", "err", err)
		}
	}
}

// Close stops trying and releases the lock (by closing its connection).
func (l *Leader) Close() error {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
	}
	l.leading.Store(false)
	return nil
}
