package tenants

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGatherWakes: a gathering leader is woken only when its wait can end: the last
// upload being received arrived or failed, or a full batch is queued.
func TestGatherWakes(t *testing.T) {
	woken := func(g *groupCommit) bool {
		select {
		case <-g.arrived:
			return true
		default:
			return false
		}
	}
	g := &groupCommit{arrived: make(chan struct{}, 1)}
	g.receiving.Add(3)
	g.doneReceiving(1)
	if woken(g) {
		t.Fatal("woken while two uploads are still received")
	}
	g.doneReceiving(maxBatch)
	if !woken(g) {
		t.Fatal("not woken by a full batch")
	}
	g.doneReceiving(0) // the last one failed
	if !woken(g) || g.receiving.Load() != 0 {
		t.Fatal("not woken when nothing is received any more")
	}
}

// holdGathered makes the first n small uploads of the tenants in names wait, once
// counted for the index's gathering (gatherFault), until release is called.
func holdGathered(t *testing.T, n int64, names ...string) (release func()) {
	gate := make(chan struct{})
	var held atomic.Int64
	gatherFault = func(tenant string) {
		if slices.Contains(names, tenant) && held.Add(1) <= n {
			<-gate
		}
	}
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { release(); gatherFault = nil })
	return release
}

// putAsync puts a 4-byte file into sp in a goroutine of its own and returns where its
// error will be sent.
func putAsync(ctx context.Context, sp *Space, name string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, _, err := sp.Put(ctx, name, strings.NewReader("data"), PutOptions{Size: 4})
		done <- err
	}()
	return done
}

// TestIndexLeaderGathersOtherTenants: the upload that leads the index's batch waits
// for the small uploads of other tenants whose bodies are in, so that they share its
// transaction (gather.go). Without the wait it commits at once, alone.
func TestIndexLeaderGathersOtherTenants(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	e.reg.recv.max = time.Minute // the wait ends only when the others arrive
	ctx := context.Background()
	const others = 4
	var names []string
	for i := range others {
		names = append(names, fmt.Sprintf("g%d", i))
	}
	release := holdGathered(t, others, names...)
	var held []<-chan error
	for _, name := range names {
		if _, err := e.reg.Create(ctx, name, Options{}); err != nil {
			t.Fatal(err)
		}
		sp, err := e.reg.Space(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, putAsync(ctx, sp, "f.bin"))
	}
	waitFor(t, 10*time.Second, "the other tenants' uploads counted", func() bool { return e.reg.recv.n.Load() == others })

	done := putAsync(ctx, e.sp, "lead.bin")
	select {
	case err := <-done:
		t.Fatalf("the leader's upload returned (%v) while %d small uploads of other tenants were on their way", err, others)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	for _, c := range append(held, done) {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeaderDoesNotWaitForItsOwnTenant: uploads of the leader's own tenant cannot
// join its batch (its commit section is held until the batch is over), so the
// index's leader does not wait for them (gather.go).
func TestLeaderDoesNotWaitForItsOwnTenant(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	e.reg.recv.max = time.Minute
	ctx := context.Background()
	release := holdGathered(t, 1, e.tenant)
	held := putAsync(ctx, e.sp, "held.bin")
	waitFor(t, 10*time.Second, "the held upload counted", func() bool { return e.reg.recv.n.Load() == 1 })
	done := putAsync(ctx, e.sp, "lead.bin")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the leader waited for an upload of its own tenant")
	}
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// TestReceiversGather: gather returns at once with nothing (or only the caller's own
// space's uploads) being received, when the last other upload being received
// arrives, and after its longest wait otherwise.
func TestReceiversGather(t *testing.T) {
	c := newReceivers()
	var own atomic.Int64
	c.gather(&own) // nothing received: no wait

	c.max = time.Minute
	c.add()
	own.Add(1)
	c.gather(&own) // only its own: no wait

	c.add()
	c.add()
	var arrived sync.WaitGroup
	returned := make(chan struct{})
	go func() { c.gather(&own); close(returned) }()
	c.done()
	select {
	case <-returned:
		t.Fatal("gather returned with another space's upload still being received")
	case <-time.After(100 * time.Millisecond):
	}
	arrived.Go(c.done)
	<-returned
	arrived.Wait()

	c.max = time.Millisecond
	c.add() // never arrives: the wait ends at max
	c.gather(&own)
}

// TestLeaderWaitsForAnsweredClients: a leader waits for the next upload of a client
// that the last batch answered, so that both share a batch (without the wait it
// commits at once, alone); a batch's answers older than the longest wait hold nobody,
// and a new small upload counts as an answered client's.
func TestLeaderWaitsForAnsweredClients(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	g := &e.sp.cm.gc
	g.maxWait = time.Minute
	commits := e.reg.commits.Load()
	// The leader's upload began before the batch that answered the client: held
	// once its body is in, it leads once that batch is over.
	release := holdGathered(t, 1, e.tenant)
	done := putAsync(ctx, e.sp, "lead.bin")
	waitFor(t, 10*time.Second, "the leader's upload received", func() bool { return e.reg.recv.n.Load() == 1 })
	g.answered(1) // a batch just answered one small upload
	release()
	select {
	case err := <-done:
		t.Fatalf("the leader's upload returned (%v) before the answered client came back", err)
	case <-time.After(200 * time.Millisecond):
	}
	back := putAsync(ctx, e.sp, "back.bin")
	for _, c := range []<-chan error{done, back} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if n := e.reg.commits.Load() - commits; n != 1 {
		t.Errorf("%d commits for the leader's upload and the answered client's next one, want 1", n)
	}

	g.maxWait = 0
	g.answered(1)
	time.Sleep(2 * maxGather)
	if g.awaited() {
		t.Error("a batch's answers still awaited after the longest wait")
	}
	g.answered(1)
	g.startReceiving()
	if g.returning.Load() != 0 || g.receiving.Load() != 1 {
		t.Errorf("a new small upload: returning %d, receiving %d; want 0, 1", g.returning.Load(), g.receiving.Load())
	}
}

// TestLargeUploadAfterSmallNotHeld: a client whose small upload was just answered
// comes back with a large one (not counted as received): its own commit does not wait
// for it (any upload that begins counts its client back).
func TestLargeUploadAfterSmallNotHeld(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	// Held, the upload would wait the whole 15 s; the 5 s bound leaves a loaded machine
	// room for the upload itself.
	e.sp.cm.gc.maxWait = 15 * time.Second
	if _, _, err := e.sp.Put(ctx, "small.bin", strings.NewReader("data"), PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<10)
	start := time.Now()
	if _, _, err := e.sp.Put(ctx, "big.bin", strings.NewReader(big), PutOptions{Size: int64(len(big))}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the large upload that followed its own client's small one waited %v for that client", d)
	}
}

// TestGatherEndsWhenAnswersStale: a leader's wait for the clients a batch answered
// ends when those answers are the longest wait old (returnBy), not the longest wait
// after the gather began.
func TestGatherEndsWhenAnswersStale(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	g := &e.sp.cm.gc
	// A wait of the longest gather after the gather began would be 3 s; the 1.5 s bound
	// leaves a loaded machine room for the upload itself.
	g.maxWait = 3 * time.Second
	g.answered(2) // two clients answered; only one comes back, 2.9 s later
	time.Sleep(2900 * time.Millisecond)
	start := time.Now()
	if _, _, err := e.sp.Put(ctx, "a.bin", strings.NewReader("data"), PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("the leader waited %v for answers that went stale ~100 ms into its wait", d)
	}
}

// settled makes sure a gatherer waiting on ch is in its wait: it hands it a token,
// waits until the token was taken and lets the gatherer look again and wait anew.
func settled(t *testing.T, ch chan struct{}) {
	t.Helper()
	ch <- struct{}{}
	waitFor(t, 10*time.Second, "the gatherer waiting", func() bool { return len(ch) == 0 })
	time.Sleep(20 * time.Millisecond)
}

// returnsSoon fails the test if a gather has not closed returned within 30 s
// (its longest wait is set far longer).
func returnsSoon(t *testing.T, what string, returned <-chan struct{}) {
	t.Helper()
	select {
	case <-returned:
	case <-time.After(30 * time.Second):
		t.Fatalf("the gatherer was not woken when %s", what)
	}
}

// TestReceiversWakeOnOwnGrowth: the index's gathering leader is woken when the other
// spaces' uploads have arrived, even when its own space gathered an upload after it
// last looked (done compares with its own space's count as it is now).
func TestReceiversWakeOnOwnGrowth(t *testing.T) {
	c := newReceivers()
	c.max = time.Hour
	var own atomic.Int64
	c.add() // another space's upload
	returned := make(chan struct{})
	go func() { c.gather(&own); close(returned) }()
	settled(t, c.arrived)
	own.Add(1) // the leader's own space gathers one
	c.add()
	c.done() // the other space's upload arrives: only the leader's own remains
	returnsSoon(t, "only its own space's upload remained", returned)
}

// TestClientBackWakesGatherer: a space's gathering leader is woken when the last
// client the previous batch answered comes back with an upload that is not counted as
// received (a large one), since nothing is awaited any more.
func TestClientBackWakesGatherer(t *testing.T) {
	g := &groupCommit{arrived: make(chan struct{}, 1), maxWait: time.Hour}
	g.answered(1)
	returned := make(chan struct{})
	go func() { g.gather(); close(returned) }()
	settled(t, g.arrived)
	g.clientBack()
	returnsSoon(t, "the last answered client came back", returned)
}
