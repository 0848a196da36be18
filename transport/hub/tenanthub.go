package hub

import (
	"encoding/json"
	"sync"

	"github.com/syncspace/syncspace/sync/protocol"
)

// tenantHub holds one tenant's live subscriber set. The registry listener delivers
// each committed event straight from the publisher into the subscribers' send queues
// under mu (queue pushes never block: a full queue closes its connection with 4008),
// so events are handed out in the order the registry reports them, without a hop
// through another goroutine. Joins, leaves and the switch from replay to live take
// the same lock, which makes that switch exact: a connection becomes live after seq
// s only if no event after s has been dispatched yet.
type tenantHub struct {
	h        *Hub
	id, name string // the tenant's immutable id (the hub's key) and its name (logs)
	refs     int    // guarded by h.mu

	mu       sync.Mutex
	closed   bool
	subs     []*conn
	lastSeen int64 // seq of the last event dispatched; every event ≤ lastSeen is out
}

func newTenantHub(h *Hub, id, name string) *tenantHub {
	return &tenantHub{h: h, id: id, name: name}
}

// push fans ev out to the live subscribers. It never blocks on a connection.
func (t *tenantHub) push(ev *protocol.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.dispatch(ev)
}

// stop ends the tenant hub (its last subscriber left).
func (t *tenantHub) stop() {
	t.mu.Lock()
	t.closed = true
	clear(t.subs)
	t.subs = nil
	t.mu.Unlock()
}

// dispatch queues one event to every live subscriber that should get it. The event
// is encoded once, as a complete frame shared by all subscribers. t.mu is held.
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
	it := prepareFrame(data)
	n := 0
	for i := 0; i < len(t.subs); i++ {
		c := t.subs[i]
		if ev.Seq <= c.from {
			continue
		}
		if c.clientID == ev.SourceClient && c.principal.Load().Subject == ev.SourceSubject {
			continue
		}
		if c.scope != nil {
			sent, live := t.dispatchScoped(c, ev)
			if !live {
				t.removeAt(i)
				i--
			}
			if sent {
				n++
			}
			continue
		}
		if !c.q.push(it) {
			t.removeAt(i)
			i--
			t.h.metrics.SlowConsumerClosed()
			t.h.log.Info("slow consumer closed", "conn", c.id.String(), "tenant", t.name)
			c.close(protocol.CloseSlowConsumer, "slow consumer: resume with since")
			continue
		}
		n++
	}
	t.h.metrics.EventBroadcast(n)
}

// dispatchScoped queues ev to c, a path-scoped subscriber, as its scope sees it
// (scopedItems). live is false when c must leave the live set: it fell behind (closed
// 4008) or it replays from before ev to receive the content of a directory moved into
// its scope. t.mu is held.
func (t *tenantHub) dispatchScoped(c *conn, ev *protocol.Event) (sent, live bool) {
	items, replay, err := scopedItems(c.scope, ev)
	if err != nil {
		t.h.log.Error("encode event", "tenant", t.name, "seq", ev.Seq, "err", err)
		return false, true
	}
	if replay {
		epoch, _ := c.space.Head()
		items = []outItem{{replay: &replayReq{since: ev.Seq - 1, epoch: epoch}}}
	}
	for _, it := range items {
		if !c.q.push(it) {
			t.h.metrics.SlowConsumerClosed()
			t.h.log.Info("slow consumer closed", "conn", c.id.String(), "tenant", t.name)
			c.close(protocol.CloseSlowConsumer, "slow consumer: resume with since")
			return false, false
		}
	}
	return len(items) > 0, !replay
}

func (t *tenantHub) addLive(c *conn, from int64) {
	c.from = from
	c.subIdx = int32(len(t.subs))
	t.subs = append(t.subs, c)
}

func (t *tenantHub) removeAt(i int) {
	last := len(t.subs) - 1
	c := t.subs[i]
	t.subs[i] = t.subs[last]
	t.subs[i].subIdx = int32(i)
	t.subs[last] = nil
	t.subs = t.subs[:last]
	c.subIdx = -1
}

// leave removes c from the live set, if it is there.
func (t *tenantHub) leave(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := int(c.subIdx); i >= 0 && i < len(t.subs) && t.subs[i] == c {
		t.removeAt(i)
	}
}

// subscribe handles a Subscribe: it queues the Ack (first), and either makes c live
// after the current head, queues a ResyncRequired and makes c live after the head, or
// queues a replay item that the writer runs from the store.
func (t *tenantHub) subscribe(c *conn, sp Space, since *int64, epoch string) {
	t.mu.Lock()
	defer t.mu.Unlock()
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
	case resumesGroup(c, *since):
		items = append(items, outItem{replay: &replayReq{since: *since - 1, epoch: curEpoch, group: *since}})
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
}

// resumesGroup reports whether c's resume at since must look at since's own events
// again: a path-scoped subscriber may see several events share one seq (a move across
// its scope: a Create of every entry moved in), and a client that lost its connection
// in the middle of them resumes with that seq. Its replay then starts with that seq's
// events when they are several (the client may lack some; applying a Create or Delete
// again changes nothing), and skips a single one, which the client has.
func resumesGroup(c *conn, since int64) bool {
	return c.scope != nil && since > 0
}

// goLive ends a replay that has sent every event through seq: if the hub has not
// dispatched anything later, c becomes live after seq and goLive reports true.
func (t *tenantHub) goLive(c *conn, seq int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastSeen <= seq {
		t.addLive(c, seq)
		return true
	}
	return false
}

// goLiveHead makes c live after the current head (the replay failed: resync needed)
// and returns the epoch and that head.
func (t *tenantHub) goLiveHead(c *conn, sp Space) (epoch string, head int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	epoch, head = sp.Head()
	if head < t.lastSeen {
		head = t.lastSeen
	}
	t.addLive(c, head)
	return epoch, head
}
