package hub

import (
	"encoding/json"
	"sync"

	"github.com/syncspace/syncspace/sync/protocol"
)

// tenantHub owns one tenant's subscriber set in its goroutine (run). Events arrive
// from the registry listener through an unbounded inbox (push never blocks); joins,
// leaves and replay switches arrive as commands and are answered in order with the
// events, which is what makes the switch from replay to live exact.
type tenantHub struct {
	h    *Hub
	name string
	refs int // guarded by h.mu

	mu     sync.Mutex
	inbox  []protocol.Event
	wake   chan struct{} // cap 1
	cmds   chan func()
	stop   chan struct{}
	closed bool

	// Owned by run.
	subs     []*conn
	lastSeen int64 // seq of the last event dispatched; every event ≤ lastSeen is out
}

func newTenantHub(h *Hub, name string) *tenantHub {
	return &tenantHub{
		h:    h,
		name: name,
		wake: make(chan struct{}, 1),
		cmds: make(chan func()),
		stop: make(chan struct{}),
	}
}

// push appends ev to the inbox. It never blocks.
func (t *tenantHub) push(ev protocol.Event) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.inbox = append(t.inbox, ev)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *tenantHub) run() {
	defer t.h.hubWG.Done()
	var spare []protocol.Event
	for {
		select {
		case <-t.stop:
			t.mu.Lock()
			t.closed = true
			t.inbox = nil
			t.mu.Unlock()
			return
		case fn := <-t.cmds:
			fn()
		case <-t.wake:
			t.mu.Lock()
			evs := t.inbox
			t.inbox = spare[:0]
			t.mu.Unlock()
			for i := range evs {
				t.dispatch(&evs[i])
			}
			clear(evs)
			if cap(evs) > 1024 {
				evs = nil
			}
			spare = evs
		}
	}
}

// do runs fn in the hub goroutine and waits for it. The caller holds a reference,
// so the goroutine is alive.
func (t *tenantHub) do(fn func()) {
	done := make(chan struct{})
	t.cmds <- func() { fn(); close(done) }
	<-done
}

// dispatch queues one event to every live subscriber that should get it.
func (t *tenantHub) dispatch(ev *protocol.Event) {
	if ev.Seq <= t.lastSeen {
		return // duplicate notification
	}
	t.lastSeen = ev.Seq
	if len(t.subs) == 0 {
		t.h.metrics.EventBroadcast(0)
		return
	}
	data, err := json.Marshal(ev)
	if err != nil {
		t.h.log.Error("encode event", "tenant", t.name, "seq", ev.Seq, "err", err)
		return
	}
	n := 0
	for i := 0; i < len(t.subs); i++ {
		c := t.subs[i]
		if ev.Seq <= c.from {
			continue
		}
		if c.clientID == ev.SourceClient && c.subject == ev.SourceSubject {
			continue
		}
		if !c.q.push(outItem{data: data}) {
			t.removeAt(i)
			i--
			t.h.metrics.SlowConsumerClosed()
			t.h.log.Info("slow consumer closed", "conn", c.id, "tenant", t.name)
			c.close(protocol.CloseSlowConsumer, "slow consumer: resume with since")
			continue
		}
		n++
	}
	t.h.metrics.EventBroadcast(n)
}

func (t *tenantHub) addLive(c *conn, from int64) {
	c.from = from
	c.subIdx = len(t.subs)
	t.subs = append(t.subs, c)
}

func (t *tenantHub) removeAt(i int) {
	last := len(t.subs) - 1
	c := t.subs[i]
	t.subs[i] = t.subs[last]
	t.subs[i].subIdx = i
	t.subs[last] = nil
	t.subs = t.subs[:last]
	c.subIdx = -1
}

// leave removes c from the live set, if it is there.
func (t *tenantHub) leave(c *conn) {
	t.do(func() {
		if c.subIdx >= 0 && c.subIdx < len(t.subs) && t.subs[c.subIdx] == c {
			t.removeAt(c.subIdx)
		}
	})
}

// subscribe handles a Subscribe in the hub goroutine: it queues the Ack (first), and
// either makes c live after the current head, queues a ResyncRequired and makes c
// live after the head, or queues a replay item that the writer runs from the store.
func (t *tenantHub) subscribe(c *conn, sp Space, since *int64, epoch string) {
	t.do(func() {
		curEpoch, head := sp.Head()
		if head < t.lastSeen {
			head = t.lastSeen
		}
		items := []outItem{{data: encodeAck(protocol.SubscribeOperationID, &head, curEpoch)}}
		switch {
		case since == nil:
			t.addLive(c, head)
		case (epoch != curEpoch && !(epoch == "" && *since == 0)) || *since > head || head-*since > protocol.MaxReplayGap:
			t.addLive(c, head)
			items = append(items, outItem{data: encodeResync(head, curEpoch)})
		case *since == head:
			t.addLive(c, head)
		default:
			items = append(items, outItem{replay: &replayReq{since: *since, epoch: curEpoch}})
		}
		for _, it := range items {
			if !c.q.push(it) {
				t.h.metrics.SlowConsumerClosed()
				c.close(protocol.CloseSlowConsumer, "slow consumer")
				return
			}
		}
	})
}

// goLive ends a replay that has sent every event through seq: if the hub has not
// dispatched anything later, c becomes live after seq and goLive reports true.
func (t *tenantHub) goLive(c *conn, seq int64) bool {
	ok := false
	t.do(func() {
		if t.lastSeen <= seq {
			t.addLive(c, seq)
			ok = true
		}
	})
	return ok
}

// goLiveHead makes c live after the current head (the replay failed: resync needed)
// and returns the epoch and that head.
func (t *tenantHub) goLiveHead(c *conn, sp Space) (epoch string, head int64) {
	t.do(func() {
		epoch, head = sp.Head()
		if head < t.lastSeen {
			head = t.lastSeen
		}
		t.addLive(c, head)
	})
	return epoch, head
}
