package tenants

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// pending returns the space's reserved bytes and the pending counters of its group
// commit.
func pending(sp *Space) (reserved, used, entries int64) {
	sp.hmu.Lock()
	defer sp.hmu.Unlock()
	return sp.reserved, sp.pendingUsed, sp.pendingEntries
}

// TestGroupCommitApplyPanicGivesBack: a panic while a batch's members are applied (a
// bug) fails the batch, undoes the members applied before it and gives back what they
// held of the pending counters: the tenant's quota and entry limit do not shrink
// until a restart.
func TestGroupCommitApplyPanicGivesBack(t *testing.T) {
	e := newEnv(t, Limits{MaxEntries: 100}, Options{Quota: 1 << 20})
	var applies atomic.Int64
	batchFault = func(stage string) error {
		// The first batch is the leader's alone; the second member of the next panics.
		if stage == "apply" && applies.Add(1) == 3 {
			panic("injected bug")
		}
		return nil
	}
	t.Cleanup(func() { batchFault = nil })
	first, res := batchOf(t, e, batchPut{path: "lead", data: []byte("lead")}, []batchPut{
		{path: "d/a", data: []byte("aaaa")},
		{path: "d/b", data: []byte("bbbb")},
		{path: "c", data: []byte("cccc")},
	})
	batchFault = nil
	if first.err != nil {
		t.Fatalf("the leader's own batch: %v", first.err)
	}
	for i, r := range res {
		if protocol.CodeOf(r.err) != protocol.CodeInternal {
			t.Errorf("upload %d of the panicking batch: %+v, want an internal error", i, r)
		}
	}
	if r, u, n := pending(e.sp); r != 0 || u != 0 || n != 0 {
		t.Errorf("after the panicking batch: reserved %d, pending used %d, pending entries %d; want 0", r, u, n)
	}
	if _, err := os.Stat(filepath.Join(e.filesDir(), "d")); !os.IsNotExist(err) {
		t.Errorf("the applied member's directory left on disk: %v", err)
	}
	e.put("after", []byte("fine"))
	checkConsistent(t, e)
}

// TestReceivePanicReleasesCounts: a panic while an upload is received (a bug; the HTTP
// server recovers it) takes the upload off every count it was in: the space's
// receiving and flushing counts and the registry's receivers, else every later batch
// would wait its longest for it, and its quota reservation.
func TestReceivePanicReleasesCounts(t *testing.T) {
	e := newEnv(t, Limits{}, Options{Quota: 1 << 20})
	gatherFault = func(string) { panic("injected bug") }
	t.Cleanup(func() { gatherFault = nil })
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Put did not panic")
			}
		}()
		e.sp.Put(context.Background(), "p.bin", strings.NewReader("data"), PutOptions{Size: 4})
	}()
	gatherFault = nil
	g := &e.sp.gc
	if r, f, n := g.receiving.Load(), g.flushing.Load(), e.reg.recv.n.Load(); r != 0 || f != 0 || n != 0 {
		t.Errorf("after the panic: receiving %d, flushing %d, receivers %d; want 0", r, f, n)
	}
	if r, _, _ := pending(e.sp); r != 0 {
		t.Errorf("after the panic: %d bytes still reserved", r)
	}
	e.put("after", []byte("fine"))
	checkConsistent(t, e)
}

// TestGroupCommitQueuePanicAnswers: when the first step of a batch's directory fsyncs
// panics on the index's goroutine (a bug), the index (tenants/sqlite) commits with a
// do-nothing rest in place of the batch's; the batch must not wait for its own rest,
// which never runs: its upload gets an internal error (its flush was not made), and
// the tenant's next uploads go on.
func TestGroupCommitQueuePanicAnswers(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	var once sync.Once
	batchFault = func(stage string) error {
		if stage == "queue" {
			once.Do(func() { panic("injected bug") })
		}
		return nil
	}
	t.Cleanup(func() { batchFault = nil })
	done := putAsync(context.Background(), e.sp, "q.bin")
	select {
	case err := <-done:
		if protocol.CodeOf(err) != protocol.CodeInternal {
			t.Fatalf("upload whose flush was never queued: %v, want an internal error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the upload waits for a directory flush whose first step panicked")
	}
	e.put("q.bin", []byte("data")) // the retry: flushed now
	e.put("after", []byte("fine"))
	checkConsistent(t, e)
}
