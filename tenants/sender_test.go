package tenants

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSenderDoesNotWaitForTheBus: while every publish hangs (a bus that does not
// answer), commits still return at once and reach this node's listeners; the waiting
// notices coalesce per tenant, and once the bus answers the newest seq goes out.
func TestSenderDoesNotWaitForTheBus(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	bus := e.reg.bus.(*syncBus)
	gate := make(chan struct{})
	bus.set(func(b *syncBus) { b.gate = gate })
	const n = 5
	// The bus stays closed until the commits return: a sender that waited for it
	// would never let them (no speed limit here, only "not waiting for the bus").
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		for i := 0; i < n; i++ {
			if _, _, err := e.sp.Put(context.Background(), fmt.Sprintf("f%d", i), strings.NewReader("x"), PutOptions{Size: 1}); err != nil {
				t.Errorf("Put: %v", err)
				return
			}
		}
	}()
	select {
	case <-committed:
	case <-time.After(30 * time.Second):
		close(gate)
		t.Fatalf("%d commits did not return with the bus hanging", n)
	}
	if evs := e.evs(); len(evs) != n {
		t.Fatalf("listeners got %d events during the hang, want %d", len(evs), n)
	}
	close(gate)
	waitFor(t, 10*time.Second, "the newest seq published", func() bool {
		ns := bus.published()
		return len(ns) > 0 && ns[len(ns)-1].Last == n
	})
	ns := bus.published()
	if len(ns) > 2 || ns[0].First != 1 || len(ns) == 2 && ns[1].First != ns[0].Last+1 {
		t.Fatalf("published %+v, want the first commit then the rest coalesced", ns)
	}
}

// TestSenderBounded: with the bus hanging, the queue holds one notice per tenant and
// at most maxPendingTenants tenants; more are dropped, and closing gives up on the
// hanging publish after senderDrainTimeout.
func TestSenderBounded(t *testing.T) {
	bus := &syncBus{gate: make(chan struct{})}
	var down atomic.Bool
	s := newSender(bus, &down, slog.New(slog.DiscardHandler))
	for i := 0; i < maxPendingTenants+10; i++ {
		for seq := int64(1); seq <= 3; seq++ {
			s.send(Notice{TenantID: fmt.Sprint(i), Epoch: "e", First: seq, Last: seq})
		}
	}
	s.mu.Lock()
	pending := len(s.pending)
	s.mu.Unlock()
	if pending > maxPendingTenants {
		t.Errorf("%d tenants queued, bound %d", pending, maxPendingTenants)
	}
	if d := s.dropped.Load(); d < 10 {
		t.Errorf("%d notices dropped, want at least 10", d)
	}
	start := time.Now()
	s.close()
	if d := time.Since(start); d > senderDrainTimeout+time.Second {
		t.Errorf("close took %v with the bus hanging", d)
	}
	if !down.Load() {
		t.Error("a publish given up on did not mark the bus down")
	}
	s.send(Notice{TenantID: "late", Epoch: "e", First: 1, Last: 1}) // ignored, no panic
}

// TestSenderCoalesces: notices of one tenant waiting together become one with the
// newest seq; a new epoch replaces the waiting range.
func TestSenderCoalesces(t *testing.T) {
	s := &sender{pending: map[string]*Notice{}, wake: make(chan struct{}, 1)}
	s.send(Notice{TenantID: "a", Epoch: "e1", First: 1, Last: 2})
	s.send(Notice{TenantID: "b", Epoch: "e1", First: 7, Last: 7})
	s.send(Notice{TenantID: "a", Epoch: "e1", First: 3, Last: 5})
	s.send(Notice{TenantID: "b", Epoch: "e2", First: 1, Last: 1})
	var got []string
	for {
		n, ok := s.next()
		if !ok {
			break
		}
		got = append(got, fmt.Sprintf("%s/%s/%d-%d", n.TenantID, n.Epoch, n.First, n.Last))
	}
	if fmt.Sprint(got) != "[a/e1/1-5 b/e2/1-1]" {
		t.Fatalf("queued %v", got)
	}
}

// TestBusNotReceiving: a bus whose subscription is down makes the registry report
// the bus degraded although every publish succeeds.
func TestBusNotReceiving(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	bus := e.reg.bus.(*syncBus)
	if e.reg.Stats().BusDown {
		t.Fatal("bus down before any outage")
	}
	bus.set(func(b *syncBus) { b.deaf = true })
	e.put("a", []byte("a"))
	if !e.reg.Stats().BusDown {
		t.Fatal("bus not reported down while its subscription is")
	}
	bus.set(func(b *syncBus) { b.deaf = false })
	waitFor(t, 10*time.Second, "the bus reported up", func() bool { return !e.reg.Stats().BusDown })
}
