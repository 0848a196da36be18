package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// eventMarker starts the event id inside every benchmark event ("ev-123"): syncspace's
// event path, and the same path inside the peers' payloads. One event carries it once.
var eventMarker = []byte("ev-")

// countEvents returns how many events a frame (one or several messages) carries.
func countEvents(frame []byte) int { return bytes.Count(frame, eventMarker) }

// eventIDs calls fn with the id of every event in frame ("ev-" then decimal digits).
// Malformed or overlong ids are skipped.
func eventIDs(frame []byte, fn func(id int64)) {
	for {
		i := bytes.Index(frame, eventMarker)
		if i < 0 {
			return
		}
		frame = frame[i+len(eventMarker):]
		j := 0
		for j < len(frame) && j < 18 && frame[j] >= '0' && frame[j] <= '9' {
			j++
		}
		if j > 0 {
			if id, err := strconv.ParseInt(string(frame[:j]), 10, 64); err == nil {
				fn(id)
			}
		}
		frame = frame[j:]
	}
}

// peerPayload is the event a peer broadcasts for id: the same JSON shape and size as
// syncspace's FileOperation frame for a new 16-byte file (~250 bytes).
func peerPayload(id int64) []byte {
	return fmt.Appendf(nil, `{"type":"FileOperation","seq":%d,"operation":{"Create":{"metadata":{"path":"ev/ev-%d.txt","size":16,"modified":"2026-01-02T03:04:05Z","hash":"%064d","is_directory":false,"seq":%d}}},"source_client":"publisher","source_subject":"bench"}`, id, id, id, id)
}

// dialer returns a WebSocket dialer that binds to source address 127.0.0.(2 + i%200),
// so that tens of thousands of loopback connections do not run out of ports.
func dialer(i int) *websocket.Dialer {
	src := net.IPv4(127, 0, 0, byte(2+i%200))
	nd := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	return &websocket.Dialer{
		NetDialContext:   nd.DialContext,
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   2048,
		WriteBufferSize:  1024,
	}
}

// readFrame reads one whole message into buf (grown as needed).
func readFrame(c *websocket.Conn, buf []byte) ([]byte, error) {
	_, rd, err := c.NextReader()
	if err != nil {
		return buf, err
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// hubTarget is one server the hub scenarios drive.
type hubTarget struct {
	name string
	// dial connects subscriber i (of group g: a tenant) and returns once it is
	// subscribed and ready to receive events.
	dial func(ctx context.Context, i, g int) (*websocket.Conn, error)
	// publish makes the server broadcast event id to group g.
	publish func(ctx context.Context, id int64, g int) error
	// pong, when set, is written back whenever a frame equal to it arrives
	// (Centrifugo's JSON ping is "{}").
	pong []byte
}

// subscriber is one connected client.
type subscriber struct {
	c       *websocket.Conn
	sample  bool
	lats    []latSample
	wmu     sync.Mutex
	readErr error
}

type latSample struct {
	id  int64
	lat time.Duration
}

// fanStats is what one fan-out measurement gives.
type fanStats struct {
	eventsPerSec float64 // delivered events per second (all subscribers)
	published    float64 // published events per second
	p50, p99     time.Duration
	dropped      int // subscribers whose connection ended during the run
	stalls       int // times the publishers waited a second for any delivery
	// cpuPerDelivery is this process's CPU time (servers run in process, and the
	// clients, the same for every server) per delivered event.
	cpuPerDelivery time.Duration
}

// fanRun connects groups × perGroup subscribers to t, publishes with pubs concurrent
// publishers (flow-controlled: at most window events in flight per subscriber on
// average) for warm + measure, and returns delivered events/s and latencies. rate > 0
// paces the publishers to that many events per second (for latency under a steady,
// unsaturated load); rate 0 publishes as fast as the flow control allows.
func fanRun(ctx context.Context, t *hubTarget, groups, perGroup, pubs, window int, warm, measure time.Duration, rate float64) (fanStats, error) {
	f := &fan{t: t, groups: groups, perGroup: perGroup, window: window, rate: rate,
		sendTimes: make([]atomic.Int64, fanMaxEvents), epoch: time.Now(), stop: make(chan struct{})}
	if err := f.connect(ctx, groups*perGroup); err != nil {
		f.closeAll()
		return fanStats{}, err
	}
	f.groupPub = make([]atomic.Int64, groups)
	f.live = make([]atomic.Int64, groups)
	for i := range f.subs {
		f.live[i%groups].Add(1)
	}
	f.running.Store(true)
	var rwg sync.WaitGroup
	for i, s := range f.subs {
		rwg.Add(1)
		go func(s *subscriber, g int) {
			defer rwg.Done()
			f.read(s, g)
		}(s, i%groups)
	}
	f.pubStart = time.Now()
	var pwg sync.WaitGroup
	for p := 0; p < pubs; p++ {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			f.publishLoop(ctx)
		}()
	}
	sleepCtx(ctx, warm)
	d0, p0, t0, c0 := f.delivered.Load(), f.publishedN.Load(), time.Since(f.epoch), cpuSelf()
	sleepCtx(ctx, measure)
	d1, p1, t1, c1 := f.delivered.Load(), f.publishedN.Load(), time.Since(f.epoch), cpuSelf()
	close(f.stop)
	pwg.Wait()
	f.running.Store(false)
	f.closeAll()
	rwg.Wait()
	if f.perr != nil {
		return fanStats{}, fmt.Errorf("publish: %w", f.perr)
	}
	if ctx.Err() != nil {
		return fanStats{}, ctx.Err()
	}
	st := f.stats(t0, t1)
	st.eventsPerSec = float64(d1-d0) / (t1 - t0).Seconds()
	st.published = float64(p1-p0) / (t1 - t0).Seconds()
	if d1 > d0 {
		st.cpuPerDelivery = (c1 - c0) / time.Duration(d1-d0)
	}
	if st.eventsPerSec == 0 {
		return st, fmt.Errorf("no event delivered in the measurement window (%d published in it, %d stalls)", p1-p0, st.stalls)
	}
	return st, nil
}

// fanMaxEvents bounds the event ids of one fan-out run.
const fanMaxEvents = 1 << 22

// fan is the state of one fanRun: subscribers, and the flow-control bookkeeping
// (events published per group, live subscribers per group and the deliveries
// expected from them; a subscriber that drops out takes its undelivered events out
// of the expectation, so that it does not stall the publishers).
type fan struct {
	t                        *hubTarget
	groups, perGroup, window int
	rate                     float64
	subs                     []*subscriber
	sendTimes                []atomic.Int64 // by event id, since epoch
	epoch, pubStart          time.Time
	stop                     chan struct{}

	groupPub, live                               []atomic.Int64
	expected, delivered                          atomic.Int64
	nextID, publishedN, lastD, lastDAt, forgiven atomic.Int64
	running                                      atomic.Bool

	pmu  sync.Mutex
	perr error // the first publish error
}

// connect dials total subscribers, 32 at a time.
func (f *fan) connect(ctx context.Context, total int) error {
	f.subs = make([]*subscriber, total)
	sem := make(chan struct{}, 32)
	var cwg sync.WaitGroup
	var cerr error
	var cmu sync.Mutex
	for i := 0; i < total; i++ {
		cwg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer cwg.Done()
			defer func() { <-sem }()
			c, err := f.t.dial(ctx, i, i%f.groups)
			if err != nil {
				cmu.Lock()
				if cerr == nil {
					cerr = fmt.Errorf("subscriber %d: %w", i, err)
				}
				cmu.Unlock()
				return
			}
			f.subs[i] = &subscriber{c: c, sample: i%max(total/50, 1) == 0}
		}(i)
	}
	cwg.Wait()
	return cerr
}

func (f *fan) closeAll() {
	for _, s := range f.subs {
		if s != nil {
			s.c.Close()
		}
	}
}

// read receives s's frames (group g) until its connection ends, counting deliveries
// and sampling latencies.
func (f *fan) read(s *subscriber, g int) {
	buf := make([]byte, 0, 4096)
	var received int64
	for {
		var err error
		buf, err = readFrame(s.c, buf)
		if err != nil {
			s.readErr = err
			if f.running.Load() {
				f.live[g].Add(-1)
				f.expected.Add(-(f.groupPub[g].Load() - received))
			}
			return
		}
		now := time.Since(f.epoch)
		if n := countEvents(buf); n > 0 {
			received += int64(n)
			f.delivered.Add(int64(n))
			if s.sample {
				eventIDs(buf, func(id int64) {
					if id > 0 && id < fanMaxEvents {
						if st := f.sendTimes[id].Load(); st > 0 {
							s.lats = append(s.lats, latSample{id, now - time.Duration(st)})
						}
					}
				})
			}
		} else if f.t.pong != nil && bytes.Equal(bytes.TrimSpace(buf), f.t.pong) {
			s.wmu.Lock()
			_ = s.c.WriteMessage(websocket.TextMessage, f.t.pong)
			s.wmu.Unlock()
		}
	}
}

// publishLoop is one publisher: it publishes until stop, flow-controlled and paced.
func (f *fan) publishLoop(ctx context.Context) {
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		if ctx.Err() != nil {
			return
		}
		if f.backlogged() {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		id := f.nextID.Add(1)
		if id >= fanMaxEvents || !f.pace(id) {
			return
		}
		g := int(id) % f.groups
		f.groupPub[g].Add(1)
		f.expected.Add(f.live[g].Load())
		f.sendTimes[id].Store(int64(time.Since(f.epoch)))
		err := f.t.publish(ctx, id, g)
		f.publishedN.Add(1)
		if err != nil {
			f.pmu.Lock()
			if f.perr == nil {
				f.perr = err
			}
			f.pmu.Unlock()
			return
		}
	}
}

// backlogged is the flow control: deliveries expected so far minus delivered above
// the window. Events that will never arrive (a server that drops them) must not stall
// the run: after a second without any delivery the backlog is forgiven.
func (f *fan) backlogged() bool {
	d := f.delivered.Load()
	if f.expected.Load()-d <= int64(f.window*f.perGroup) {
		return false
	}
	if d != f.lastD.Load() {
		f.lastD.Store(d)
		f.lastDAt.Store(int64(time.Since(f.epoch)))
	} else if time.Since(f.epoch)-time.Duration(f.lastDAt.Load()) > time.Second {
		f.expected.Store(d)
		f.forgiven.Add(1)
	}
	return true
}

// pace waits until event id is due at the configured rate (no wait at rate 0); false
// when the run stopped meanwhile.
func (f *fan) pace(id int64) bool {
	if f.rate <= 0 {
		return true
	}
	due := f.pubStart.Add(time.Duration(float64(id) / f.rate * float64(time.Second)))
	wait := time.Until(due)
	if wait <= 0 {
		return true
	}
	select {
	case <-f.stop:
		return false
	case <-time.After(wait):
		return true
	}
}

// stats gathers the latencies of the events sent within [t0, t1), the subscribers
// dropped with close code 4008 and the stalls.
func (f *fan) stats(t0, t1 time.Duration) fanStats {
	var lats []time.Duration
	dropped := 0
	for _, s := range f.subs {
		for _, l := range s.lats {
			if sent := time.Duration(f.sendTimes[l.id].Load()); sent >= t0 && sent < t1 {
				lats = append(lats, l.lat)
			}
		}
		var ce *websocket.CloseError
		if s.readErr != nil && errors.As(s.readErr, &ce) && ce.Code == 4008 {
			dropped++
		}
	}
	return fanStats{p50: percentile(lats, 50), p99: percentile(lats, 99), dropped: dropped, stalls: int(f.forgiven.Load())}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// runSeq numbers syncspace targets (see syncspaceTarget).
var runSeq atomic.Int64

// syncspaceTarget drives an in-process or child syncd at base (http://host:port):
// subscribers of group g use tokens[g]; events are PUTs of new 16-byte files.
func syncspaceTarget(base string, tokens []string, cl *http.Client) *hubTarget {
	wsURL := "ws" + base[len("http"):] + "/ws"
	// Each target uses its own directory: a PUT of content equal to the current one
	// makes no event, so ids must never repeat a path.
	run := runSeq.Add(1)
	return &hubTarget{
		name: "syncspace",
		dial: func(ctx context.Context, i, g int) (*websocket.Conn, error) {
			return dialSyncspace(ctx, wsURL, tokens[g], i)
		},
		publish: func(ctx context.Context, id int64, g int) error {
			body := fmt.Appendf(nil, "r%03d e%010d\n", run%1000, id%1e10)[:16]
			return put(ctx, cl, fmt.Sprintf("%s/api/files/r%d/ev-%d.txt", base, run, id), tokens[g], body, sha256Hex(body))
		},
	}
}

// dialSyncspace connects subscriber i to syncd's /ws with the token in the upgrade
// header, subscribes with batch:true and waits for the Ack.
func dialSyncspace(ctx context.Context, wsURL, token string, i int) (*websocket.Conn, error) {
	h := http.Header{"Authorization": {"Bearer " + token}}
	c, resp, err := dialer(i).DialContext(ctx, wsURL, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("upgrade: %s", resp.Status)
		}
		return nil, err
	}
	msg := fmt.Appendf(nil, `{"type":"Subscribe","client_id":"sub-%d","batch":true}`, i)
	if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("waiting for Ack: %w", err)
		}
		if bytes.Contains(b, []byte(`"Ack"`)) {
			break
		}
		if bytes.Contains(b, []byte(`"Error"`)) {
			c.Close()
			return nil, fmt.Errorf("subscribe refused: %s", b)
		}
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}
