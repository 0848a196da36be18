// The bus sender: how commit notices leave this node without making commits wait for
// a network bus.

package tenants

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// maxPendingTenants bounds the sender's queue: at most one notice per tenant waits,
// and at most this many tenants. A notice of one more tenant is dropped (counted);
// the other nodes' head check delivers its commit within about a second.
const maxPendingTenants = 4096

// senderDrainTimeout bounds how long closing the sender spends publishing what is
// still queued.
const senderDrainTimeout = time.Second

// sender publishes commit notices on a network bus from one goroutine, so that a
// commit never waits for the bus (a bus that is down makes each publish wait for its
// timeout). Its queue coalesces per tenant: while a notice waits, a later commit of
// the same tenant widens it to the newest seq (a doorbell only says "the log now
// reaches Last"; receivers read the events from the index). A notice whose publish
// fails is dropped: delivery never depends on the bus, since every node checks the
// heads of its tenants every second and catches up after each bus reconnect.
type sender struct {
	bus  Bus
	log  *slog.Logger
	down *atomic.Bool // set while publishing fails (the registry's busDown)

	mu      sync.Mutex
	pending map[string]*Notice // by tenant id: the one waiting notice
	order   []string           // tenant ids of pending, oldest first
	closed  bool

	wake    chan struct{} // cap 1: something was queued
	stop    chan struct{} // closed by close
	done    chan struct{} // closed when run returns
	ctx     context.Context
	cancel  context.CancelFunc
	dropped atomic.Int64 // notices dropped: queue full or publish failed
}

func newSender(bus Bus, down *atomic.Bool, log *slog.Logger) *sender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sender{bus: bus, log: log, down: down, pending: map[string]*Notice{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel}
	go s.run()
	return s
}

// send queues n and returns at once. n.Events are kept only while n waits alone:
// a coalesced notice is a doorbell.
func (s *sender) send(n Notice) {
	s.mu.Lock()
	switch p := s.pending[n.TenantID]; {
	case s.closed:
	case p != nil && p.Epoch == n.Epoch:
		p.First, p.Last, p.Events = min(p.First, n.First), max(p.Last, n.Last), nil
	case p != nil: // a new epoch: the older range means nothing any more
		*p = n
		p.Events = nil
	case len(s.pending) >= maxPendingTenants:
		s.dropped.Add(1)
	default:
		s.pending[n.TenantID] = &n
		s.order = append(s.order, n.TenantID)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest waiting notice off the queue.
func (s *sender) next() (Notice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return Notice{}, false
	}
	id := s.order[0]
	s.order[0] = ""
	s.order = s.order[1:]
	n := s.pending[id]
	delete(s.pending, id)
	return *n, true
}

func (s *sender) run() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			s.drain()
			return
		case <-s.wake:
			s.drain()
		}
	}
}

// drain publishes every waiting notice, oldest tenant first.
func (s *sender) drain() {
	for {
		n, ok := s.next()
		if !ok {
			return
		}
		s.publish(n)
	}
}

// droppedCount is how many notices s dropped; 0 for a nil sender (in process).
func (s *sender) droppedCount() int64 {
	if s == nil {
		return 0
	}
	return s.dropped.Load()
}

// publish sends n; a failure marks the bus down (logged once per outage) and drops n.
func (s *sender) publish(n Notice) {
	if err := s.bus.Publish(s.ctx, n); err != nil {
		s.dropped.Add(1)
		if !s.down.Swap(true) && s.ctx.Err() == nil {
			s.log.Warn("publish commit: the bus is down (other nodes see the commit through their head check)",
				"err", err, "tenant", n.TenantName, "first", n.First, "last", n.Last)
		}
		return
	}
	if s.down.Swap(false) {
		s.log.Info("publish commit: the bus is back")
	}
}

// close publishes what is still queued (for at most senderDrainTimeout) and stops
// the goroutine; later sends are ignored.
func (s *sender) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	t := time.AfterFunc(senderDrainTimeout, s.cancel)
	<-s.done
	t.Stop()
	s.cancel()
}
