package hub

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// framePair is a server-side conn (only what the writer uses) upgraded by gorilla on
// loopback and the real gorilla client on the other end.
func framePair(t *testing.T, opts Options) (*conn, *websocket.Conn) {
	t.Helper()
	h := &Hub{opts: opts.withDefaults()}
	got := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{ReadBufferSize: 256, WriteBufferPool: writeBufferPool}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		got <- ws
	}))
	t.Cleanup(srv.Close)
	cl, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := <-got
	t.Cleanup(func() { cl.Close(); ws.Close() })
	c := &conn{h: h, ws: ws}
	c.q.c = c
	return c, cl
}

func readFrames(t *testing.T, cl *websocket.Conn, n int) []string {
	t.Helper()
	_ = cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	out := make([]string, 0, n)
	for len(out) < n {
		mt, data, err := cl.ReadMessage()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(out), err)
		}
		if mt != websocket.TextMessage {
			t.Fatalf("frame type %d", mt)
		}
		out = append(out, string(data))
	}
	return out
}

func msgOf(n int, tag byte) []byte {
	b := bytes.Repeat([]byte{tag}, n)
	return b
}

// TestFrameWriterSizes writes frames around every header-length boundary, prepared
// (shared) and plain, and checks that the gorilla client parses each one intact.
func TestFrameWriterSizes(t *testing.T) {
	c, cl := framePair(t, Options{})
	sizes := []int{0, 1, 125, 126, 127, 200, 65535, 65536, 70000, flushAt + 7}
	fw := newFrameWriter(c)
	var want []string
	for i, n := range sizes {
		m := msgOf(n, byte('a'+i))
		var it outItem
		if i%2 == 0 {
			it = prepareFrame(m)
		} else {
			it = outItem{data: m}
		}
		if err := fw.add(&it); err != nil {
			t.Fatal(err)
		}
		want = append(want, string(m))
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	fw.release()
	got := readFrames(t, cl, len(want))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
	if n := c.msgsOut.Load(); n != int64(len(sizes)) {
		t.Fatalf("msgsOut %d", n)
	}
}

// TestFrameWriterBatch packs messages one per line into frames of at most
// MaxBatchBytes (a single larger message gets a frame of its own), in order.
func TestFrameWriterBatch(t *testing.T) {
	const limit = 300
	c, cl := framePair(t, Options{MaxBatchBytes: limit})
	c.batch.Store(true)
	var want []string
	items := []outItem{}
	for i := 0; i < 40; i++ {
		n := 20 + i*7%90
		if i == 17 {
			n = 1000 // larger than a batch frame
		}
		m := []byte(fmt.Sprintf("%03d%s", i, msgOf(n, 'x')))
		want = append(want, string(m))
		if i%3 == 0 {
			items = append(items, prepareFrame(m))
		} else {
			items = append(items, outItem{data: m})
		}
	}
	if err := c.writeItems(items, true); err != nil {
		t.Fatal(err)
	}
	pinged := make(chan struct{}, 1)
	cl.SetPingHandler(func(string) error { pinged <- struct{}{}; return nil })
	var got []string
	frames := 0
	for len(got) < len(want) {
		f := readFrames(t, cl, 1)[0]
		frames++
		lines := strings.Split(f, "\n")
		if len(f) > limit && len(lines) > 1 {
			t.Fatalf("frame of %d bytes holds %d messages", len(f), len(lines))
		}
		got = append(got, lines...)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("messages differ:\n%q\n%q", got, want)
	}
	if frames >= len(want) || frames < 3 {
		t.Fatalf("%d messages in %d frames", len(want), frames)
	}
	select {
	case <-pinged:
	default:
		t.Fatal("no ping frame before the batch")
	}
}

// TestWriteAfterClose: once the connection is closing no data frame is written, so
// nothing follows the close frame.
func TestWriteAfterClose(t *testing.T) {
	c, cl := framePair(t, Options{})
	c.closed.Store(true)
	if err := c.writeRaw(prepareFrame([]byte("late")).data, 1); !errors.Is(err, errClosing) {
		t.Fatalf("err %v", err)
	}
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4008, "x"), time.Now().Add(time.Second))
	_, _, err := cl.ReadMessage()
	if !websocket.IsCloseError(err, 4008) {
		t.Fatalf("want close 4008 first, got %v", err)
	}
}

// TestClientPingAnswered: a client's WebSocket ping gets its pong (written in turn
// with the writer's frames) while events flow.
func TestClientPingAnswered(t *testing.T) {
	e := newEnv(t, Options{})
	c, _ := e.subscribe(e.token("acme", "alice", "read"), "c1", nil)
	defer c.close()
	pong := make(chan string, 1)
	c.ws.SetPongHandler(func(s string) error { pong <- s; return nil })
	c.startPump()
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-pong:
		if s != "hello" {
			t.Fatalf("pong %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
}
