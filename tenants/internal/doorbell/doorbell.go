// Package doorbell holds what the network buses (tenants/redisbus, tenants/pgbus)
// share: the small wire form of a tenants.Notice, and the subscription's life cycle
// (connected, lost, connected again) mapped to the Bus contract's onLoss.
package doorbell

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/syncspace/syncspace/tenants"
)

// MaxPayload is the largest encoded notice: PostgreSQL's NOTIFY takes under 8000 bytes.
const MaxPayload = 7999

// wire is a notice on the wire: ids and the seq range only; subscribers read the events
// from the index.
type wire struct {
	TenantID   string `json:"t"`
	TenantName string `json:"n,omitempty"`
	Epoch      string `json:"e"`
	First      int64  `json:"f"`
	Last       int64  `json:"l"`
}

// Encode returns n's wire form. Events are never carried.
func Encode(n tenants.Notice) ([]byte, error) {
	if n.TenantID == "" || n.First < 1 || n.Last < n.First {
		return nil, fmt.Errorf("doorbell: bad notice (tenant %q, seq %d..%d)", n.TenantID, n.First, n.Last)
	}
	b, err := json.Marshal(wire{n.TenantID, n.TenantName, n.Epoch, n.First, n.Last})
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPayload {
		return nil, errors.New("doorbell: notice too large")
	}
	return b, nil
}

// Decode parses a wire form written by Encode.
func Decode(b []byte) (tenants.Notice, error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return tenants.Notice{}, fmt.Errorf("doorbell: decode: %w", err)
	}
	if w.TenantID == "" || w.First < 1 || w.Last < w.First {
		return tenants.Notice{}, fmt.Errorf("doorbell: bad notice %q", b)
	}
	return tenants.Notice{TenantID: w.TenantID, TenantName: w.TenantName, Epoch: w.Epoch, First: w.First, Last: w.Last}, nil
}

// Session tracks one subscription's connections. The subscriber's goroutine calls
// Connected each time the subscription is (re)established: the first time it closes
// Ready (Subscribe waits on it so that notices published after Subscribe returns are
// delivered); every later time, or the first time if Subscribe already gave up
// waiting, notices may have been lost in between, and it calls onLoss.
type Session struct {
	onLoss func()
	ready  chan struct{}

	mu        sync.Mutex
	connected bool // Connected was called before
	gaveUp    bool // Subscribe returned before the first connection
	up        bool // connected now: Connected since the last Lost
}

// NewSession returns a session calling onLoss on possible losses.
func NewSession(onLoss func()) *Session {
	return &Session{onLoss: onLoss, ready: make(chan struct{})}
}

// Ready is closed at the first connection.
func (s *Session) Ready() <-chan struct{} { return s.ready }

// GiveUp records that Subscribe returned without a connection: the first connection
// will then report a possible loss.
func (s *Session) GiveUp() {
	s.mu.Lock()
	s.gaveUp = true
	s.mu.Unlock()
}

// Connected records a (re)established subscription, in the subscriber's goroutine.
func (s *Session) Connected() {
	s.mu.Lock()
	first := !s.connected
	lost := !first || s.gaveUp
	s.connected, s.up = true, true
	s.mu.Unlock()
	if first {
		close(s.ready)
	}
	if lost {
		s.onLoss()
	}
}

// Lost records, in the subscriber's goroutine, that the subscription's connection
// failed (or a new one could not be made): notices may be missed until the next
// Connected. It reports whether the subscription was up until now (the first failure
// of an outage).
func (s *Session) Lost() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.up
	s.up = false
	return was
}

// Up reports whether the subscription is connected now: Connected was called and
// Lost was not called since.
func (s *Session) Up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up
}

// Sub is a subscription a Set holds.
type Sub interface {
	// Stop ends the subscription's goroutine and waits for it; called once.
	Stop()
	// Up reports whether the subscription is connected now (Session.Up).
	Up() bool
}

// Set is a bus's live subscriptions: what its Subscribe adds, its Receiving asks and
// its Close stops. The zero value is ready to use.
type Set struct {
	mu     sync.Mutex
	subs   map[Sub]struct{}
	closed bool
}

// Add adds s; false (s not added) once the set is closed.
func (t *Set) Add(s Sub) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.subs == nil {
		t.subs = map[Sub]struct{}{}
	}
	t.subs[s] = struct{}{}
	return true
}

// Remove stops s and forgets it (the stop function a Subscribe returns). A
// subscription the set's Close already stopped is not stopped again.
func (t *Set) Remove(s Sub) {
	t.mu.Lock()
	_, ok := t.subs[s]
	delete(t.subs, s)
	t.mu.Unlock()
	if ok {
		s.Stop()
	}
}

// Up reports whether every subscription is connected now (tenants.Receiver).
func (t *Set) Up() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range t.subs {
		if !s.Up() {
			return false
		}
	}
	return true
}

// Close stops every subscription and refuses later ones. It reports whether this call
// closed the set (false: it was closed already).
func (t *Set) Close() bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	t.closed = true
	subs := t.subs
	t.subs = nil
	t.mu.Unlock()
	for s := range subs {
		s.Stop()
	}
	return true
}
