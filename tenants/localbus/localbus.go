// Package localbus is the in-process tenants.Bus of a single node: Publish hands each
// notice to every subscriber on the publisher's goroutine, so subscribers see one
// tenant's notices in the order its commits published them (the committer publishes
// inside its commit section). Subscribers must not block: they enqueue and return.
package localbus

import (
	"context"
	"errors"
	"sync"

	"github.com/syncspace/syncspace/tenants"
)

// Bus is the in-process bus. The zero value is not usable: use New.
type Bus struct {
	mu     sync.RWMutex
	subs   map[int]func(tenants.Notice)
	next   int
	closed bool
}

var _ tenants.Bus = (*Bus)(nil)

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[int]func(tenants.Notice){}} }

// InProcess reports true: every notice carries its events and none is lost, so the
// registry needs no head check (tenants.InProcess).
func (b *Bus) InProcess() bool { return true }

// ErrClosed is Publish's error after Close.
var ErrClosed = errors.New("localbus: closed")

// Publish calls every subscriber with n, in subscription order, and returns when they
// have all returned.
func (b *Bus) Publish(_ context.Context, n tenants.Notice) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	for i := 0; i < b.next; i++ {
		if fn, ok := b.subs[i]; ok {
			fn(n)
		}
	}
	return nil
}

// Subscribe adds onNotice. onLoss is never called: an in-process bus loses nothing.
// stop removes the subscription; after it returns, onNotice is not called again.
func (b *Bus) Subscribe(onNotice func(tenants.Notice), _ func()) (stop func()) {
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = onNotice
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
		})
	}
}

// Close drops every subscription; later Publishes fail with ErrClosed.
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	b.subs = map[int]func(tenants.Notice){}
	b.mu.Unlock()
	return nil
}
