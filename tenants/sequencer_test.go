package tenants

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// seqRig is a sequencer over a real SQLite index with one tenant, and a listener
// recording what it delivers.
type seqRig struct {
	t     *testing.T
	store *sqlite.Store
	seq   *sequencer

	mu     sync.Mutex
	got    []int64
	resets []index.Head
}

const rigTenant = "tid-1"

func newSeqRig(t *testing.T) *seqRig {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlite.NewStore(ctx, db, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	must(t, store.CreateTenant(ctx, index.Tenant{Name: "t", ID: rigTenant, CreatedAt: time.Now()}, "ep1"))
	r := &seqRig{t: t, store: store, seq: newSequencer(store, quietLogger())}
	r.seq.listen(func(id, tenant string, ev protocol.Event) {
		if id != rigTenant || tenant != "t" {
			t.Errorf("event of tenant %q (id %q)", tenant, id)
		}
		r.mu.Lock()
		r.got = append(r.got, ev.Seq)
		r.mu.Unlock()
	}, func(_, _, epoch string, head int64) {
		r.mu.Lock()
		r.resets = append(r.resets, index.Head{Epoch: epoch, Seq: head})
		r.mu.Unlock()
	})
	r.seq.track(rigTenant, "t", nil, "ep1", 0)
	return r
}

// commit appends n events to the index (as any node would) and returns its notice,
// events included.
func (r *seqRig) commit(n int, src string) Notice {
	var no Notice
	must(r.t, r.store.Write(context.Background(), rigTenant, index.WriteOptions{}, func(tx index.Tx) error {
		epoch, head := tx.Head()
		no = Notice{TenantID: rigTenant, TenantName: "t", Epoch: epoch, First: head + 1}
		for i := 1; i <= n; i++ {
			ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: head + int64(i), SourceClient: src,
				Operation: protocol.NewOperation(protocol.OpCreate, "", protocol.Metadata{Path: src, IsDirectory: true})}
			if err := tx.Append(ev, 0, time.Now()); err != nil {
				return err
			}
			no.Events = append(no.Events, ev)
		}
		no.Last = head + int64(n)
		return nil
	}))
	return no
}

func (r *seqRig) delivered() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.got...)
}

// checkExactly fails unless the listener got 1..n, each once, in order.
func (r *seqRig) checkExactly(n int64) {
	r.t.Helper()
	got := r.delivered()
	for i, s := range got {
		if s != int64(i)+1 {
			r.t.Fatalf("delivery %d is seq %d (want %d); around it: %v", i, s, i+1, got[max(0, i-5):min(len(got), i+5)])
		}
	}
	if int64(len(got)) != n {
		r.t.Fatalf("delivered %d events, want %d", len(got), n)
	}
}

// faultBus hands doorbells to the sequencer on its own goroutine, dropping,
// duplicating and reordering them, and now and then reporting a loss.
type faultBus struct {
	in   chan Notice
	done chan struct{}
}

func startFaultBus(seq *sequencer, seed uint64) *faultBus {
	b := &faultBus{in: make(chan Notice, 64), done: make(chan struct{})}
	rng := rand.New(rand.NewPCG(seed, 1))
	go func() {
		defer close(b.done)
		var held []Notice
		for n := range b.in {
			n.Events = nil // a doorbell
			switch p := rng.IntN(100); {
			case p < 30: // dropped
			case p < 40:
				seq.notice(n)
				seq.notice(n)
			case p < 60:
				held = append(held, n)
			default:
				seq.notice(n)
			}
			if len(held) > 0 && rng.IntN(4) == 0 {
				i := rng.IntN(len(held))
				seq.notice(held[i])
				held = append(held[:i], held[i+1:]...)
			}
			if rng.IntN(50) == 0 {
				seq.lost()
			}
		}
		for _, n := range held {
			seq.notice(n)
		}
	}()
	return b
}

// TestSequencerFaults: two nodes' commits on one tenant, one node's own (with events)
// and the other's heard through a bus that drops, duplicates, reorders and loses
// notices; with the head check, the listener gets every seq once, in order.
func TestSequencerFaults(t *testing.T) {
	r := newSeqRig(t)
	bus := startFaultBus(r.seq, uint64(time.Now().UnixNano()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tk := time.NewTicker(30 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				r.seq.checkHeads(ctx)
			}
		}
	}()
	const commits = 120
	var wg sync.WaitGroup
	var total sync.Mutex
	var n int64
	wg.Add(2)
	go func() { // the other node
		defer wg.Done()
		for i := 0; i < commits; i++ {
			no := r.commit(1+i%3, "remote")
			total.Lock()
			n += no.Last - no.First + 1
			total.Unlock()
			bus.in <- no
		}
		close(bus.in)
	}()
	go func() { // this node
		defer wg.Done()
		for i := 0; i < commits; i++ {
			no := r.commit(1+i%2, "own")
			total.Lock()
			n += no.Last - no.First + 1
			total.Unlock()
			r.seq.own(ctx, no)
		}
	}()
	wg.Wait()
	<-bus.done
	waitFor(t, 5*time.Second, "every event", func() bool { return int64(len(r.delivered())) >= n })
	time.Sleep(100 * time.Millisecond) // anything late would be a duplicate
	r.checkExactly(n)
	if r.seq.gapFills.Load() == 0 {
		t.Error("no gap fill counted")
	}
}

// TestSequencerLostLast: the last notice lost, the head check delivers its events.
func TestSequencerLostLast(t *testing.T) {
	r := newSeqRig(t)
	r.seq.notice(r.commit(2, "a")) // with events: at once
	r.commit(3, "b")               // its notice lost
	r.checkExactly(2)
	r.seq.checkHeads(context.Background())
	waitFor(t, 10*time.Second, "the lost commit", func() bool { return len(r.delivered()) == 5 })
	if r.seq.behind.Load() != 3 {
		t.Errorf("behind %d, want 3", r.seq.behind.Load())
	}
	// A duplicate of an old doorbell changes nothing.
	r.seq.notice(Notice{TenantID: rigTenant, Epoch: "ep1", First: 1, Last: 5})
	r.seq.lost()
	time.Sleep(50 * time.Millisecond)
	r.checkExactly(5)
}

// TestSequencerEpoch: a new epoch in the index (another node restored the tenant)
// resets the listeners at its head (the subscribers resynchronise there), and later
// events follow from there.
func TestSequencerEpoch(t *testing.T) {
	r := newSeqRig(t)
	r.seq.own(context.Background(), r.commit(2, "a"))
	must(t, r.store.SetHead(context.Background(), rigTenant, "ep2", 7))
	no := r.commit(1, "b")
	no.Events = nil
	r.seq.notice(no)
	waitFor(t, 10*time.Second, "the reset", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.resets) > 0
	})
	r.seq.own(context.Background(), r.commit(1, "c"))
	if got := r.delivered(); fmt.Sprint(got) != "[1 2 9]" {
		t.Fatalf("delivered %v, want [1 2 9]", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.resets) != 1 || r.resets[0] != (index.Head{Epoch: "ep2", Seq: 8}) {
		t.Fatalf("resets %v, want one to ep2 at 8", r.resets)
	}
}

// TestBusOutage: while the bus fails, commits still reach this node's listeners and
// the registry reports the bus down (degraded); its reconnection clears that.
func TestBusOutage(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	bus := e.reg.bus.(*syncBus)
	bus.setDown(true)
	e.put("a", []byte("a"))
	waitFor(t, 10*time.Second, "the bus reported down after a failed publish", func() bool { return e.reg.Stats().BusDown })
	if evs := e.evs(); len(evs) != 1 || evs[0].Seq != 1 {
		t.Fatalf("events during the outage %v", evs)
	}
	bus.setDown(false)
	if e.reg.Stats().BusDown {
		t.Fatal("bus still reported down after it reconnected")
	}
	e.put("b", []byte("b"))
	if evs := e.evs(); len(evs) != 2 || evs[1].Seq != 2 {
		t.Fatalf("events after the outage %v", evs)
	}
	if st := e.reg.Stats(); st.CommitCount < 2 || st.CommitNanos <= 0 || !st.Leading {
		t.Fatalf("stats %+v", st)
	}
}

// stallIndex is a real index whose change and head reads stall, while stalled, until
// their context ends (a stuck PostgreSQL query): fault injection only.
type stallIndex struct {
	Index
	stalled atomic.Bool
	release chan struct{} // closed at the test's end, so that nothing stays blocked
}

func (x *stallIndex) stall(ctx context.Context) error {
	if !x.stalled.Load() {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-x.release:
		return errors.New("test over")
	}
}

func (x *stallIndex) Changes(ctx context.Context, id string, since int64, limit int) (index.ChangesPage, error) {
	if err := x.stall(ctx); err != nil {
		return index.ChangesPage{}, err
	}
	return x.Index.Changes(ctx, id, since, limit)
}

func (x *stallIndex) LoadHead(ctx context.Context, id string) (string, int64, int64, error) {
	if err := x.stall(ctx); err != nil {
		return "", 0, 0, err
	}
	return x.Index.LoadHead(ctx, id)
}

// within fails unless fn returns within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
	}
}

// TestSequencerStall: an index read that stalls (a stuck query) ends at the
// sequencer's read deadline: neither the head check nor a catch-up hangs, a commit of
// this node (which waits for the catch-up's delivery section) goes through, and once
// the index answers again the next head check delivers everything, once, in order.
func TestSequencerStall(t *testing.T) {
	r := newSeqRig(t)
	r.seq.readTimeout = 100 * time.Millisecond
	x := &stallIndex{Index: r.store, release: make(chan struct{})}
	defer close(x.release)
	r.seq.idx = x
	r.seq.own(context.Background(), r.commit(1, "a"))
	x.stalled.Store(true)
	within(t, 5*time.Second, "head check over a stalled index", func() { r.seq.checkHeads(context.Background()) })
	no := r.commit(2, "remote") // another node's, heard as a doorbell: a catch-up
	no.Events = nil
	r.seq.notice(no)
	waitFor(t, 15*time.Second, "the catch-up to start", func() bool { return !r.seq.get(rigTenant, "", "", 0, false).pending.Load() })
	within(t, 5*time.Second, "this node's commit during a stalled catch-up", func() {
		r.seq.own(context.Background(), r.commit(1, "own"))
	})
	x.stalled.Store(false)
	r.seq.checkHeads(context.Background())
	waitFor(t, 15*time.Second, "every event", func() bool { return len(r.delivered()) == 4 })
	time.Sleep(50 * time.Millisecond)
	r.checkExactly(4)
}
