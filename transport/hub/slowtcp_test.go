package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// smallBufferDialer dials with a small kernel receive buffer (SO_RCVBUF) and a small
// gorilla read buffer: a reader whose socket holds little, as on a slow link.
func smallBufferDialer(rcvbuf int) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   1024,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := c.(*net.TCPConn).SetReadBuffer(rcvbuf); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}
}

// eventPad makes the flood's events about 4 KB each.
var eventPad = strings.Repeat("p", 4000)

// floodUntilSlowClosed publishes ~4 KB events in chunks that the fast subscriber
// reads completely (so that it never overflows), until the hub has closed one slow
// consumer, then a few more. It returns how many events it published; fastSeen
// counts the events the fast subscriber has read.
func floodUntilSlowClosed(t *testing.T, e *env, fastSeen *atomic.Int64, fastErr <-chan error) int {
	t.Helper()
	sp := e.space("acme")
	const chunk, maxEvents, after = 8, 20000, 32
	n, extra := 0, -1
	for extra < after {
		if n >= maxEvents {
			t.Fatalf("no slow-consumer close after %d events", n)
		}
		for range chunk {
			n++
			sp.put(fmt.Sprintf("%s%06d", eventPad, n), "c", tenants.Source{})
		}
		if extra >= 0 {
			extra += chunk
		} else if counterValue(t, e.metrics, "syncd_ws_slow_consumer_closes_total") > 0 {
			extra = 0
		}
		deadline := time.Now().Add(20 * time.Second)
		for fastSeen.Load() < int64(n) {
			select {
			case err := <-fastErr:
				t.Fatalf("fast subscriber failed after %d of %d events: %v", fastSeen.Load(), n, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("fast subscriber stuck at %d of %d events", fastSeen.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return n
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSlowConsumerGets4008OverTCP (issue 11 item 8): a subscriber reading 10 messages
// a second through a 4 KiB socket receive buffer, while ~4 KB events flood in, gets
// the 4008 close frame within a bounded time of its queue's overflow (before the fix
// megabytes of socket buffer stood between it and the close frame, or the socket was
// reset); a fast subscriber of the same tenant receives every event, in order; the
// connection's goroutines and memory are released.
func TestSlowConsumerGets4008OverTCP(t *testing.T) {
	verifyNoLeaks(t) // first: its check runs after the env's cleanup
	e := newMemEnv(t, Options{SendQueue: 64, CloseTimeout: 5 * time.Second})
	tok := e.token("acme", "alice", "read")

	// The fast subscriber reads everything at once, checking order.
	fast, _ := e.subscribe(tok, "fast", nil)
	defer fast.close()
	var fastSeen atomic.Int64
	fastErr := make(chan error, 1)
	fastDone := make(chan struct{})
	go func() {
		defer close(fastDone)
		for {
			f := fast.next(time.Hour) // the client's own pump reads the socket
			if f.err != nil {
				fastErr <- f.err
				return
			}
			data := f.data
			var ev protocol.Event
			if err := json.Unmarshal(data, &ev); err != nil || ev.Type != protocol.TypeFileOperation {
				fastErr <- fmt.Errorf("not an event: %.80q", data)
				return
			}
			if want := fastSeen.Load() + 1; ev.Seq != want {
				fastErr <- fmt.Errorf("seq %d, want %d", ev.Seq, want)
				return
			}
			fastSeen.Add(1)
		}
	}()

	time.Sleep(600 * time.Millisecond) // the fast subscriber's writer parks and ends
	baseGoroutines := runtime.NumGoroutine()
	baseHeap := heapInUse()

	ws, _, err := smallBufferDialer(4096).Dial(e.wsURL, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "slow"}); err != nil {
		t.Fatal(err)
	}
	// The Ack first (the memRegistry double must not see a Subscribe and a commit at
	// once: its commit calls the hub under its own lock, which Head takes).
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	// The slow reader: 10 messages a second.
	var slowRead atomic.Int64
	var slowClosedAt atomic.Int64
	slowErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				slowClosedAt.Store(time.Now().UnixNano())
				slowErr <- err
				return
			}
			slowRead.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	}()

	n := floodUntilSlowClosed(t, e, &fastSeen, fastErr)
	overflowAt := time.Now() // at most one chunk (and the fast reader's catch-up) after it

	var code int
	select {
	case err := <-slowErr:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("slow consumer ended without a close frame: %v (read %d messages)", err, slowRead.Load())
		}
		code = ce.Code
	case <-time.After(30 * time.Second):
		t.Fatalf("slow consumer neither closed nor cut 30s after its overflow (read %d messages)", slowRead.Load())
	}
	if code != protocol.CloseSlowConsumer {
		t.Fatalf("slow consumer close %d, want 4008", code)
	}
	t.Logf("%d events published; slow reader read %d messages and saw 4008 %v after the overflow was seen",
		n, slowRead.Load(), time.Unix(0, slowClosedAt.Load()).Sub(overflowAt).Round(10*time.Millisecond))

	// The fast subscriber got every event and still gets new ones.
	sp := e.space("acme")
	sp.put("after", "c", tenants.Source{})
	waitFor(t, 10*time.Second, "fast subscriber caught up", func() bool { return fastSeen.Load() == int64(n+1) })
	select {
	case err := <-fastErr:
		t.Fatalf("fast subscriber: %v", err)
	default:
	}
	if v := counterValue(t, e.metrics, "syncd_ws_slow_consumer_closes_total"); v != 1 {
		t.Fatalf("slow consumer closes %v, want 1", v)
	}

	// Goroutines and memory return to where they were before the slow reader came.
	ws.Close()
	waitFor(t, 10*time.Second, "slow connection gone", func() bool { return len(e.hub.Connections()) == 1 })
	var lastG int
	var lastHeap uint64
	deadline := time.Now().Add(15 * time.Second)
	for {
		lastG, lastHeap = runtime.NumGoroutine(), heapInUse()
		if lastG <= baseGoroutines && lastHeap <= baseHeap+4<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d (baseline %d), heap %d KiB (baseline %d KiB)", lastG, baseGoroutines, lastHeap>>10, baseHeap>>10)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fast.close()
	<-fastDone
}

// TestSlowConsumerThatNeverReadsIsCut: a subscriber that stops reading altogether
// cannot even be sent its close frame; it is cut within the close timeout instead of
// being kept open, and its goroutines end.
func TestSlowConsumerThatNeverReadsIsCut(t *testing.T) {
	verifyNoLeaks(t)
	const closeTimeout = 2 * time.Second
	e := newMemEnv(t, Options{SendQueue: 16, CloseTimeout: closeTimeout})
	tok := e.token("acme", "alice", "read")
	ws, _, err := smallBufferDialer(4096).Dial(e.wsURL, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "mute"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); err != nil { // the Ack; then it never reads again
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "subscribed", func() bool {
		e.hub.mu.RLock()
		defer e.hub.mu.RUnlock()
		th := e.hub.tenants[e.space("acme").id()]
		if th == nil {
			return false
		}
		th.mu.Lock()
		defer th.mu.Unlock()
		return len(th.subs) == 1
	})
	sp := e.space("acme")
	var overflow time.Time
	for i := 0; overflow.IsZero(); i++ {
		if i > 20000 {
			t.Fatal("never overflowed")
		}
		sp.put(fmt.Sprintf("%s%06d", eventPad, i), "c", tenants.Source{})
		if i%8 == 0 && counterValue(t, e.metrics, "syncd_ws_slow_consumer_closes_total") > 0 {
			overflow = time.Now()
		}
	}
	waitFor(t, closeTimeout+10*time.Second, "the mute connection cut", func() bool { return len(e.hub.Connections()) == 0 })
	if d := time.Since(overflow); d > closeTimeout+5*time.Second {
		t.Fatalf("cut %v after the overflow, close timeout %v", d, closeTimeout)
	}
	// The client's socket was closed under it.
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("client socket still open: %v", err)
			}
			break
		}
	}
}
