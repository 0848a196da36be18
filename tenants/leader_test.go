package tenants

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// lostLeader is a Leader whose lock was lost since its last check (a fault): Leading
// still says true, Confirm says false (tenants/pgleader after its lock connection
// died, until its next check).
type lostLeader struct{ confirms atomic.Int64 }

func (*lostLeader) Leading() bool { return true }

func (l *lostLeader) Confirm(context.Context) bool {
	l.confirms.Add(1)
	return false
}

// countingCollector counts the passes run.
type countingCollector struct{ passes atomic.Int64 }

func (c *countingCollector) Collect(context.Context) (int64, int64, error) {
	c.passes.Add(1)
	return 0, 0, nil
}

// TestOnceOnlyJobsConfirmLeadership: a node whose leadership lapsed since its last
// check runs none of the once-only jobs (version pruning, change-log retention, blob
// collection): each confirms the leadership first.
func TestOnceOnlyJobsConfirmLeadership(t *testing.T) {
	e := newEnv(t, Limits{RetainVersions: time.Millisecond, RetainChanges: 1}, Options{})
	ctx := context.Background()
	e.put("f", []byte("one"))
	e.put("f", []byte("two")) // a version, expired a millisecond later
	time.Sleep(5 * time.Millisecond)
	l, gc := &lostLeader{}, &countingCollector{}
	e.reg.leader, e.reg.gc.c = l, gc
	e.reg.prune(ctx)
	e.reg.collect(ctx)
	if vs, err := e.reg.index.OldestVersions(ctx, "", time.Time{}, 10); err != nil || len(vs) != 1 {
		t.Errorf("versions kept after pruning on a lapsed leader: %v %v, want the one", vs, err)
	}
	epoch, _ := e.sp.Head()
	if _, err := e.sp.Changes(ctx, 0, epoch, 0); err != nil {
		t.Errorf("change log pruned on a lapsed leader: %v", err)
	}
	if n := gc.passes.Load(); n != 0 {
		t.Errorf("%d collection passes on a lapsed leader", n)
	}
	if l.confirms.Load() == 0 {
		t.Error("no job confirmed the leadership")
	}
	// The leader confirmed again: the jobs run.
	e.reg.leader = alwaysLeader{}
	e.reg.prune(ctx)
	e.reg.collect(ctx)
	if vs, _ := e.reg.index.OldestVersions(ctx, "", time.Time{}, 10); len(vs) != 0 {
		t.Errorf("versions kept after pruning on the leader: %v", vs)
	}
	epoch, _ = e.sp.Head()
	if _, err := e.sp.Changes(ctx, 0, epoch, 0); protocol.CodeOf(err) != protocol.CodeResyncRequired {
		t.Errorf("change log after pruning on the leader: %v, want resync_required from 0", err)
	}
	if gc.passes.Load() != 1 {
		t.Errorf("%d collection passes on the leader, want 1", gc.passes.Load())
	}
}
