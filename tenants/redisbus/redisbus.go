// Package redisbus is the tenants.Bus of cluster mode over Redis pub/sub: a doorbell
// after commit (tenant, epoch, seq range), never the authority. go-redis reconnects
// and resubscribes silently; every resubscription is reported to the subscriber as a
// possible loss so that it catches up from the index.
package redisbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/internal/doorbell"
)

var (
	_ tenants.Bus      = (*Bus)(nil)
	_ tenants.Receiver = (*Bus)(nil)
)

// DefaultChannel is the pub/sub channel of commit notices.
const DefaultChannel = "syncspace:commits"

// Options tune a Bus; the zero value is the production setting.
type Options struct {
	// Channel is the pub/sub channel; "" means DefaultChannel. Nodes of one cluster
	// use the same channel; tests sharing a server use their own.
	Channel string
	// PublishTimeout bounds one Publish when ctx has no sooner deadline; 0 means 1 s.
	PublishTimeout time.Duration
	// SubscribeWait is how long Subscribe waits for the subscription to be confirmed
	// before returning anyway (a later confirmation is then reported as a loss);
	// 0 means 5 s.
	SubscribeWait time.Duration
	// HealthInterval: a subscription that hears nothing for this long sends a PING;
	// hearing nothing for twice as long, it drops the connection (a dead peer or a
	// silent network) and subscribes again. 0 means 5 s.
	HealthInterval time.Duration
	// Logger receives connection errors; nil means slog.Default().
	Logger *slog.Logger
}

// Bus publishes and receives notices on one Redis channel.
type Bus struct {
	client *redis.Client
	opts   Options

	subs doorbell.Set
}

// New connects to the Redis server at url (redis://[user:pass@]host:port/db or
// rediss://…) and checks that it answers.
func New(ctx context.Context, url string, opts Options) (*Bus, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisbus: %w", err)
	}
	if opts.Channel == "" {
		opts.Channel = DefaultChannel
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = time.Second
	}
	if opts.SubscribeWait <= 0 {
		opts.SubscribeWait = 5 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	client := redis.NewClient(o)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redisbus: %s: %w", o.Addr, err)
	}
	return &Bus{client: client, opts: opts}, nil
}

// Publish sends n's wire form (events are not carried) on the channel.
func (b *Bus) Publish(ctx context.Context, n tenants.Notice) error {
	payload, err := doorbell.Encode(n)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	if err := b.client.Publish(ctx, b.opts.Channel, payload).Err(); err != nil {
		return fmt.Errorf("redisbus: publish: %w", err)
	}
	return nil
}

type subscription struct {
	cancel  context.CancelFunc
	done    chan struct{}
	session *doorbell.Session

	mu sync.Mutex
	ps *redis.PubSub // replaced when the connection is found dead
}

// Stop implements doorbell.Sub: it ends the receiving goroutine. Closing the PubSub
// unblocks its Receive, which does not watch the context while it waits for a message.
func (s *subscription) Stop() {
	s.cancel()
	s.mu.Lock()
	s.ps.Close()
	s.mu.Unlock()
	<-s.done
}

// Up implements doorbell.Sub.
func (s *subscription) Up() bool { return s.session.Up() }

// renew replaces a PubSub whose connection went silent with a new subscription; it
// returns nil once the subscription is stopped.
func (s *subscription) renew(ctx context.Context, client *redis.Client, channel string) *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ps.Close()
	if ctx.Err() != nil {
		return nil
	}
	s.ps = client.Subscribe(ctx, channel)
	return s.ps
}

// Subscribe receives the channel's notices on its own connection and calls onNotice
// for each, in the order Redis delivers them, from one goroutine: onNotice must not
// block for long (a subscriber too far behind is cut by Redis, which is then reported
// as a loss). onLoss is called after every resubscription. It waits until the
// subscription is confirmed (at most Options.SubscribeWait).
func (b *Bus) Subscribe(onNotice func(tenants.Notice), onLoss func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	session := doorbell.NewSession(onLoss)
	s := &subscription{cancel: cancel, done: make(chan struct{}), session: session, ps: b.client.Subscribe(ctx, b.opts.Channel)}
	if !b.subs.Add(s) {
		cancel()
		s.ps.Close()
		return func() {}
	}

	go func() {
		defer close(s.done)
		b.receive(ctx, s, session, onNotice)
	}()
	select {
	case <-session.Ready():
	case <-time.After(b.opts.SubscribeWait):
		session.GiveUp()
		b.opts.Logger.Warn("redisbus: subscription not confirmed yet; continuing in the background", "channel", b.opts.Channel)
	}
	return func() { b.subs.Remove(s) }
}

// receive reads the subscription until ctx ends. A *redis.Subscription message is a
// (re)subscription confirmed by the server: go-redis sends SUBSCRIBE again on every
// new connection, so each one after the first marks a possible loss.
func (b *Bus) receive(ctx context.Context, s *subscription, session *doorbell.Session, onNotice func(tenants.Notice)) {
	s.mu.Lock()
	ps := s.ps
	s.mu.Unlock()
	failures, silent := 0, 0
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.opts.HealthInterval)
		if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
			return
		}
		if isTimeout(err) {
			// Nothing heard: ping once; still nothing: the connection is dead.
			if silent++; silent == 1 {
				_ = ps.Ping(ctx)
				continue
			}
			b.opts.Logger.Warn("redisbus: subscription silent; reconnecting", "channel", b.opts.Channel)
			session.Lost()
			if ps = s.renew(ctx, b.client, b.opts.Channel); ps == nil {
				return
			}
			silent = 0
			continue
		}
		silent = 0
		if err != nil {
			session.Lost()
			failures++
			if failures == 1 || failures%100 == 0 {
				b.opts.Logger.Warn("redisbus: subscription interrupted; reconnecting", "channel", b.opts.Channel, "err", err)
			}
			// go-redis reconnects on the next Receive; pause so a down server is
			// not hammered.
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff(failures)):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == b.opts.Channel {
				failures = 0
				session.Connected()
			}
		case *redis.Message:
			n, err := doorbell.Decode([]byte(m.Payload))
			if err != nil {
				b.opts.Logger.Warn("redisbus: ignoring a malformed notice", "err", err)
				continue
			}
			onNotice(n)
		case *redis.Pong:
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoff is the pause after the nth consecutive failure: 50 ms doubling to 1 s.
func backoff(n int) time.Duration {
	d := 50 * time.Millisecond
	for i := 1; i < n && d < time.Second; i++ {
		d *= 2
	}
	return min(d, time.Second)
}

// Receiving reports whether every subscription is connected now (tenants.Receiver):
// false from a connection failure or a silent connection until Redis confirms the
// subscription again.
func (b *Bus) Receiving() bool { return b.subs.Up() }

// Close stops every subscription and closes the connections.
func (b *Bus) Close() error {
	if !b.subs.Close() {
		return nil
	}
	if err := b.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redisbus: close: %w", err)
	}
	return nil
}
