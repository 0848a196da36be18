package hub

import "sync"

// outItem is one entry of a send queue: an encoded message, or a replay to run at
// that point of the stream. A broadcast event is queued as a complete text frame
// (data starts with hdr bytes of frame header, see prepareFrame), shared by every
// subscriber; replies carry only the JSON (hdr 0).
type outItem struct {
	data   []byte
	hdr    int
	replay *replayReq
}

// payload is the item's JSON message.
func (it *outItem) payload() []byte { return it.data[it.hdr:] }

// replayReq asks for the events after since. group, when set (since+1), is a
// path-scoped subscriber's resume seq: its events are sent only when its scope made
// several of them (see tenantHub.subscribe).
type replayReq struct {
	since int64
	epoch string
	group int64
}

// queue is a connection's bounded send queue. Its slice grows only while messages
// wait, so an idle connection holds no buffer. It also owns the writer goroutine's
// life: push starts the writer when there is something to send and none runs; the
// writer parks when the queue is empty and ends once the sweeper finds it parked for
// a whole CheckInterval, so an idle connection parks no writer goroutine (there is
// never more than one) while a busy one does not start a goroutine per message.
type queue struct {
	mu      sync.Mutex
	items   []outItem
	ping    bool          // a WebSocket ping is due
	running bool          // the writer goroutine runs
	stopped bool          // the connection is torn down: no more writers
	parked  bool          // the writer waits on wake for more
	active  bool          // the writer took something since the last sweep
	expire  bool          // the parked writer is to end
	wake    chan struct{} // while a writer runs (from wakePool); cap 1
	c       *conn         // its limits are the hub's SendQueue and MessageBurst
}

// wakePool recycles the writers' wake channels, so that only connections with a
// writer hold one.
var wakePool = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

// push appends an event (or replay request), or reports false when the queue already
// holds SendQueue items.
func (q *queue) push(it outItem) bool { return q.pushUpTo(it, q.c.h.opts.SendQueue) }

// pushReply appends a reply to the client's own message (Pong, Ack, Error). Replies
// have room beyond SendQueue for one inbound burst (MessageBurst): a client that pings quickly is not a
// slow consumer, but one that never reads still overflows.
func (q *queue) pushReply(it outItem) bool {
	return q.pushUpTo(it, q.c.h.opts.SendQueue+q.c.h.opts.MessageBurst)
}

func (q *queue) pushUpTo(it outItem, max int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= max {
		return false
	}
	if q.stopped {
		return true // dropped: the connection is gone
	}
	q.items = append(q.items, it)
	q.startLocked()
	return true
}

// wakeLocked wakes the parked writer.
func (q *queue) wakeLocked() {
	if q.parked {
		q.parked = false
		q.wake <- struct{}{}
	}
}

// sweep is called every CheckInterval: a writer that has been parked since the
// previous sweep without taking anything ends, so that a connection keeps its writer
// goroutine only while messages flow (at most two sweeps after the last one).
func (q *queue) sweep() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.parked && !q.active {
		q.expire = true
		q.wakeLocked()
	}
	q.active = false
}

// pingDue asks the writer to send a WebSocket ping.
func (q *queue) pingDue() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	q.ping = true
	q.startLocked()
}

// takePing reports whether a ping is due and clears it, for a writer that is in the
// middle of a long write (a replay paced to a slow reader) and so does not take from
// the queue: its pings keep a reader that answers them from the pong timeout.
func (q *queue) takePing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.ping
	q.ping = false
	return p
}

func (q *queue) startLocked() {
	if !q.running {
		q.running = true
		q.wake = wakePool.Get().(chan struct{})
		q.c.wg.Add(1)
		go q.c.writeLoop()
		return
	}
	q.wakeLocked()
}

// take moves every queued item into the result, leaving spare as the new empty
// queue, and reports whether a ping is due. With nothing to do it parks the writer
// until something is pushed; when the queue is stopped, or the sweeper found the
// writer parked for a whole period, it marks the writer stopped and returns ok
// false: the writer must then return.
func (q *queue) take(spare []outItem) (items []outItem, ping, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.stopped || q.expire && len(q.items) == 0 && !q.ping {
			q.running, q.expire, q.parked = false, false, false
			wakePool.Put(q.wake) // empty: a token is sent only to a parked writer, which takes it
			q.wake = nil
			return nil, false, false
		}
		if len(q.items) > 0 || q.ping {
			q.expire, q.active = false, true
			items, ping = q.items, q.ping
			q.items, q.ping = spare[:0], false
			return items, ping, true
		}
		q.parked = true
		w := q.wake
		q.mu.Unlock()
		<-w
		q.mu.Lock()
	}
}

// stop forbids new writers; teardown then waits for the running one.
func (q *queue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.items = nil
	q.wakeLocked()
	q.mu.Unlock()
}
