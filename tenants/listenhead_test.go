package tenants

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// TestListenerSeesHeadOfItsEvent: when a listener is handed event N, the space's Head
// already reports at least N, for another node's commits delivered from the log as
// for this node's own. The hub relies on it: a subscriber that joins a tenant hub
// created after event N was handed out is acknowledged at Head and gets the events
// after it, so a Head still at N-1 would lose event N (a gap in its live events).
func TestListenerSeesHeadOfItsEvent(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	e.put("a", []byte("a"))
	type seen struct{ ev, head int64 }
	var mu sync.Mutex
	var got []seen
	sp := e.sp
	e.reg.ListenByID(func(id string, ev protocol.Event) {
		if id != sp.ID() {
			return
		}
		_, head := sp.Head()
		mu.Lock()
		got = append(got, seen{ev.Seq, head})
		mu.Unlock()
	}, nil)
	e.put("b", []byte("b")) // this node's commit
	epoch, head := sp.Head()
	ctx := context.Background()
	// Other nodes' commits: straight into the index, then only a doorbell.
	must(t, e.reg.index.Write(ctx, sp.ID(), index.WriteOptions{}, func(tx index.Tx) error {
		for i := int64(1); i <= 3; i++ {
			ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: head + i,
				Operation: protocol.NewOperation(protocol.OpCreate, "", protocol.Metadata{Path: "d" + string(rune('0'+i)), IsDirectory: true, Seq: head + i})}
			if err := tx.Append(ev, 0, time.Now()); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, busOf(e.reg).Publish(ctx, Notice{TenantID: sp.ID(), TenantName: e.tenant, Epoch: epoch, First: head + 1, Last: head + 3}))
	waitFor(t, 15*time.Second, "the other node's events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 4
	})
	mu.Lock()
	defer mu.Unlock()
	for _, s := range got {
		if s.head < s.ev {
			t.Fatalf("a listener was handed seq %d while Head was %d (all: %v)", s.ev, s.head, got)
		}
	}
}
