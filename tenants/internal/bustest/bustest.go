// Package bustest is the behaviour every network tenants.Bus must show, run by each
// adapter's tests against its real server: notices reach another node once and in
// publish order per tenant, over many tenants; a subscriber whose connection the
// server ends is told of a possible loss and then receives later notices; stop ends
// the callbacks.
package bustest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants"
)

// Cluster is one isolated bus namespace (a channel or database of the test's own).
type Cluster struct {
	// Node returns a new node's bus on this cluster, closed at the test's cleanup.
	Node func(t *testing.T) tenants.Bus
	// KillSubscribers ends every subscriber connection of this cluster from the
	// server's side (CLIENT KILL, pg_terminate_backend).
	KillSubscribers func(t *testing.T)
	// Cut ends the subscriber connections and refuses new ones until restore is
	// called (the bus unreachable for them). nil skips the Receiving test.
	Cut func(t *testing.T) (restore func())
}

// Run runs the behaviour tests, each on a fresh cluster.
func Run(t *testing.T, newCluster func(t *testing.T) Cluster) {
	t.Run("OrderManyTenants", func(t *testing.T) { testOrder(t, newCluster(t)) })
	t.Run("KilledSubscriber", func(t *testing.T) { testKilled(t, newCluster(t)) })
	t.Run("Stop", func(t *testing.T) { testStop(t, newCluster(t)) })
	t.Run("Receiving", func(t *testing.T) { testReceiving(t, newCluster(t)) })
}

// recorder collects notices per tenant and losses.
type recorder struct {
	mu     sync.Mutex
	got    map[string][]int64 // tenant id -> First of each notice
	losses int
	change chan struct{}
}

func newRecorder() *recorder {
	return &recorder{got: map[string][]int64{}, change: make(chan struct{}, 1)}
}

func (r *recorder) notice(n tenants.Notice) {
	r.mu.Lock()
	r.got[n.TenantID] = append(r.got[n.TenantID], n.First)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) loss() {
	r.mu.Lock()
	r.losses++
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) poke() {
	select {
	case r.change <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds (checked under the lock) or fails after d.
func (r *recorder) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.change:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("after %v: %s (losses %d, got %v)", d, what, r.losses, r.got)
		}
	}
}

func notice(tenant int, seq int64) tenants.Notice {
	id := fmt.Sprintf("tenant-%02d", tenant)
	return tenants.Notice{TenantID: id, TenantName: id, Epoch: "epoch", First: seq, Last: seq}
}

func publish(t *testing.T, b tenants.Bus, n tenants.Notice) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Publish(ctx, n); err != nil {
		t.Errorf("publish %+v: %v", n, err)
	}
}

func testOrder(t *testing.T, c Cluster) {
	const nTenants, perTenant = 40, 25
	pub, sub1, sub2 := c.Node(t), c.Node(t), c.Node(t)
	recs := []*recorder{newRecorder(), newRecorder()}
	for i, b := range []tenants.Bus{sub1, sub2} {
		stop := b.Subscribe(recs[i].notice, recs[i].loss)
		t.Cleanup(stop)
	}
	// Publish as group commits do: each tenant's commits one after another, tenants
	// concurrently, and a notice of the publishing node's own subscriber too.
	var wg sync.WaitGroup
	for tn := range nTenants {
		wg.Go(func() {
			for seq := int64(1); seq <= perTenant; seq++ {
				publish(t, pub, notice(tn, seq))
			}
		})
	}
	wg.Wait()
	for i, r := range recs {
		r.waitFor(t, 10*time.Second, fmt.Sprintf("subscriber %d: every notice", i), func() bool {
			total := 0
			for _, s := range r.got {
				total += len(s)
			}
			return total >= nTenants*perTenant
		})
		r.mu.Lock()
		if r.losses != 0 {
			t.Errorf("subscriber %d: %d losses with no fault", i, r.losses)
		}
		for tn := range nTenants {
			id := notice(tn, 1).TenantID
			seqs := r.got[id]
			ok := len(seqs) == perTenant
			for j := 0; ok && j < len(seqs); j++ {
				ok = seqs[j] == int64(j+1)
			}
			if !ok {
				t.Errorf("subscriber %d, %s: got %v, want 1..%d in order", i, id, seqs, perTenant)
			}
		}
		r.mu.Unlock()
	}
}

func testKilled(t *testing.T, c Cluster) {
	pub, sub := c.Node(t), c.Node(t)
	r := newRecorder()
	t.Cleanup(sub.Subscribe(r.notice, r.loss))
	publish(t, pub, notice(1, 1))
	r.waitFor(t, 5*time.Second, "the first notice", func() bool { return len(r.got["tenant-01"]) == 1 })

	start := time.Now()
	c.KillSubscribers(t)
	r.waitFor(t, 5*time.Second, "onLoss after the connection was killed", func() bool { return r.losses >= 1 })
	t.Logf("onLoss %v after the kill", time.Since(start).Round(time.Millisecond))
	// onLoss comes once the subscription is back: what is published now arrives.
	publish(t, pub, notice(1, 2))
	publish(t, pub, notice(2, 1))
	r.waitFor(t, 5*time.Second, "notices after the reconnect", func() bool {
		s := r.got["tenant-01"]
		return len(s) >= 2 && s[len(s)-1] == 2 && len(r.got["tenant-02"]) == 1
	})
}

func testStop(t *testing.T, c Cluster) {
	pub, sub := c.Node(t), c.Node(t)
	r := newRecorder()
	stop := sub.Subscribe(r.notice, r.loss)
	publish(t, pub, notice(1, 1))
	r.waitFor(t, 5*time.Second, "the first notice", func() bool { return len(r.got["tenant-01"]) == 1 })
	stop()
	stop() // idempotent
	publish(t, pub, notice(1, 2))
	time.Sleep(200 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got["tenant-01"]) != 1 {
		t.Errorf("notices after stop: %v", r.got)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// testReceiving: a subscribed bus reports whether it receives (tenants.Receiver):
// yes once Subscribe returned, no while its connection is cut and cannot be made
// again, yes after it reconnected (and reported the possible loss).
func testReceiving(t *testing.T, c Cluster) {
	if c.Cut == nil {
		t.Skip("this bus has no way to cut its subscribers")
	}
	pub, sub := c.Node(t), c.Node(t)
	rc, ok := sub.(tenants.Receiver)
	if !ok {
		t.Fatalf("%T does not say whether it receives (tenants.Receiver)", sub)
	}
	r := newRecorder()
	t.Cleanup(sub.Subscribe(r.notice, r.loss))
	if !rc.Receiving() {
		t.Fatal("not receiving after Subscribe returned")
	}
	restore := c.Cut(t)
	start := time.Now()
	r.waitFor(t, 10*time.Second, "Receiving false while cut", func() bool { return !rc.Receiving() })
	t.Logf("not receiving %v after the cut", time.Since(start).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // a few reconnect attempts, all refused
	if rc.Receiving() {
		t.Fatal("receiving again while the bus is still cut")
	}
	restore()
	r.waitFor(t, 10*time.Second, "Receiving and a loss after the restore", func() bool { return rc.Receiving() && r.losses >= 1 })
	deadline := time.Now().Add(10 * time.Second)
	for { // the publisher's own connections may need a moment after the cut
		if err := pub.Publish(context.Background(), notice(1, 1)); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.waitFor(t, 5*time.Second, "a notice after the restore", func() bool { return len(r.got["tenant-01"]) >= 1 })
}
