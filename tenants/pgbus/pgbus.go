// Package pgbus is the tenants.Bus of cluster mode over PostgreSQL LISTEN/NOTIFY, the
// default bus (no service beyond PostgreSQL): a doorbell after commit (tenant, epoch,
// seq range), never the authority.
//
// Publish runs pg_notify on a small pool of its own, never inside a write transaction
// (NOTIFY in a transaction takes a cluster-wide lock until commit). Subscribe listens
// through pgxlisten on a connection of its own, reconnecting after ReconnectDelay
// (pgxlisten's own default is one minute); every reconnect is reported as a possible
// loss so that the subscriber catches up from the index.
package pgbus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"

	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/internal/doorbell"
)

var (
	_ tenants.Bus      = (*Bus)(nil)
	_ tenants.Receiver = (*Bus)(nil)
)

// DefaultChannel is the NOTIFY channel of commit notices.
const DefaultChannel = "syncspace_commits"

// Options tune a Bus; the zero value is the production setting.
type Options struct {
	// Channel is the NOTIFY channel; "" means DefaultChannel.
	Channel string
	// ReconnectDelay is the pause before a lost listening connection is opened again;
	// 0 means 250 ms.
	ReconnectDelay time.Duration
	// PublishTimeout bounds one Publish when ctx has no sooner deadline; 0 means 1 s.
	PublishTimeout time.Duration
	// SubscribeWait is how long Subscribe waits for LISTEN before returning anyway (the
	// later LISTEN is then reported as a loss); 0 means 5 s.
	SubscribeWait time.Duration
	// Logger receives connection errors; nil means slog.Default().
	Logger *slog.Logger
}

// Bus publishes and receives notices on one NOTIFY channel of one database.
type Bus struct {
	url  string
	pool *pgxpool.Pool
	opts Options

	subs doorbell.Set
}

// New connects to the database at url (a libpq URL or key=value string) and checks
// that it answers.
func New(ctx context.Context, url string, opts Options) (*Bus, error) {
	if opts.Channel == "" {
		opts.Channel = DefaultChannel
	}
	if opts.ReconnectDelay <= 0 {
		opts.ReconnectDelay = 250 * time.Millisecond
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = time.Second
	}
	if opts.SubscribeWait <= 0 {
		opts.SubscribeWait = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgbus: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgbus: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgbus: %w", err)
	}
	return &Bus{url: url, pool: pool, opts: opts}, nil
}

// Publish sends n's wire form (events are not carried) with pg_notify, outside any
// transaction: call it after the commit.
func (b *Bus) Publish(ctx context.Context, n tenants.Notice) error {
	payload, err := doorbell.Encode(n)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	if _, err := b.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, b.opts.Channel, string(payload)); err != nil {
		return fmt.Errorf("pgbus: publish: %w", err)
	}
	return nil
}

type subscription struct {
	cancel  context.CancelFunc
	done    chan struct{}
	session *doorbell.Session
}

// Stop implements doorbell.Sub.
func (s *subscription) Stop() {
	s.cancel()
	<-s.done
}

// Up implements doorbell.Sub.
func (s *subscription) Up() bool { return s.session.Up() }

// handler turns pgxlisten's callbacks into the Bus contract's: HandleBacklog runs
// right after each LISTEN, so every call after the first marks a possible loss.
type handler struct {
	session  *doorbell.Session
	onNotice func(tenants.Notice)
	log      *slog.Logger
}

func (h *handler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	notice, err := doorbell.Decode([]byte(n.Payload))
	if err != nil {
		h.log.Warn("pgbus: ignoring a malformed notice", "err", err)
		return nil
	}
	h.onNotice(notice)
	return nil
}

func (h *handler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.session.Connected()
	return nil
}

// Subscribe listens on its own connection and calls onNotice for each notice, in the
// order PostgreSQL delivers them (commit order), from one goroutine: onNotice must not
// block for long. onLoss is called after every reconnect. It waits until LISTEN is in
// place (at most Options.SubscribeWait).
func (b *Bus) Subscribe(onNotice func(tenants.Notice), onLoss func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	session := doorbell.NewSession(onLoss)
	s := &subscription{cancel: cancel, done: make(chan struct{}), session: session}
	if !b.subs.Add(s) {
		cancel()
		return func() {}
	}

	failures := 0 // consecutive, counted in the listener's goroutine
	l := &pgxlisten.Listener{
		Connect:        b.connectListener,
		ReconnectDelay: b.opts.ReconnectDelay,
		// pgxlisten calls LogError when the listening connection failed or could not
		// be made (it then waits ReconnectDelay and tries again).
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() != nil {
				return
			}
			if session.Lost() {
				failures = 0
			}
			if failures++; failures == 1 || failures%100 == 0 {
				b.opts.Logger.Warn("pgbus: listening connection lost; reconnecting", "channel", b.opts.Channel, "err", err, "failures", failures)
			}
		},
	}
	l.Handle(b.opts.Channel, &handler{session: session, onNotice: onNotice, log: b.opts.Logger})
	go func() {
		defer close(s.done)
		_ = l.Listen(ctx) // returns only when ctx ends
	}()
	select {
	case <-session.Ready():
	case <-time.After(b.opts.SubscribeWait):
		session.GiveUp()
		b.opts.Logger.Warn("pgbus: LISTEN not in place yet; continuing in the background", "channel", b.opts.Channel)
	}
	return func() { b.subs.Remove(s) }
}

// connectListener opens the listening connection with TCP keepalive probes every 5 s,
// so that a peer gone silent (host down, network cut) ends the wait for notifications
// within about 20 s instead of the system's two hours; the subscriber's own periodic
// head check covers the time in between.
func (b *Bus) connectListener(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(b.url)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
	if cfg.ConnectTimeout <= 0 {
		// a database that accepts the connection and never answers (stalled) must
		// not hold the reconnect for ever
		cfg.ConnectTimeout = 10 * time.Second
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// Receiving reports whether every subscription is listening now (tenants.Receiver):
// false from a lost or refused listening connection until LISTEN is in place again.
func (b *Bus) Receiving() bool { return b.subs.Up() }

// Close stops every subscription and closes the pool.
func (b *Bus) Close() error {
	if b.subs.Close() {
		b.pool.Close()
	}
	return nil
}
