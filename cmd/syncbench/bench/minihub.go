package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// MiniHub is the minimal gorilla/websocket broadcast server the fan-out scenario
// compares against: GET /ws upgrades (no authentication) and greets with
// {"type":"Ack"}; POST /publish broadcasts the request body, one message per frame, to
// every connection. It is tuned the way DESIGN.md describes for memory (small read
// buffer, pooled write buffers, the handler returns after the upgrade and each
// connection has one reader and one writer goroutine with a bounded queue); a
// connection whose queue is full is closed, never waited for.
type MiniHub struct {
	mu    sync.Mutex
	conns map[*miniConn]struct{}
	up    websocket.Upgrader
}

type miniConn struct {
	ws   *websocket.Conn
	send chan []byte
	once sync.Once
}

// NewMiniHub returns an empty hub.
func NewMiniHub() *MiniHub {
	return &MiniHub{
		conns: map[*miniConn]struct{}{},
		up: websocket.Upgrader{
			ReadBufferSize:  512,
			WriteBufferSize: 4096,
			WriteBufferPool: &sync.Pool{},
			CheckOrigin:     func(*http.Request) bool { return true },
		},
	}
}

// ServeHTTP serves /ws and /publish.
func (h *MiniHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ws":
		ws, err := h.up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &miniConn{ws: ws, send: make(chan []byte, 256)}
		ws.SetReadLimit(4096)
		h.mu.Lock()
		h.conns[c] = struct{}{}
		h.mu.Unlock()
		c.send <- []byte(`{"type":"Ack"}`)
		go h.writer(c)
		go h.reader(c)
	case "/publish":
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "body", http.StatusBadRequest)
			return
		}
		h.broadcast(b)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func (h *MiniHub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		select {
		case c.send <- msg:
		default: // slow consumer: drop the connection
			delete(h.conns, c)
			c.close()
		}
	}
}

func (c *miniConn) close() {
	c.once.Do(func() { close(c.send) })
}

func (h *MiniHub) drop(c *miniConn) {
	h.mu.Lock()
	if _, ok := h.conns[c]; ok {
		delete(h.conns, c)
		c.close()
	}
	h.mu.Unlock()
}

func (h *MiniHub) writer(c *miniConn) {
	defer c.ws.Close()
	for msg := range c.send {
		c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			h.drop(c)
			for range c.send {
			}
			return
		}
	}
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4008, "slow consumer"), time.Now().Add(time.Second))
}

func (h *MiniHub) reader(c *miniConn) {
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			h.drop(c)
			c.ws.Close()
			return
		}
	}
}

// ServeMiniHub serves a MiniHub on 127.0.0.1 (a kernel-chosen port), prints
// "listening ADDR" on stdout and serves until ctx ends. It is the body of the hidden
// `syncbench __minihub` child used by the rss scenario.
func ServeMiniHub(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: NewMiniHub(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// miniHubTarget drives a MiniHub at base (http://host:port).
func miniHubTarget(base string, cl *http.Client) *hubTarget {
	wsURL := "ws" + base[len("http"):] + "/ws"
	return &hubTarget{
		name: "minimal gorilla hub",
		dial: func(ctx context.Context, i, _ int) (*websocket.Conn, error) {
			return dialGreeted(ctx, wsURL, i, `"Ack"`)
		},
		publish: func(ctx context.Context, id int64, _ int) error {
			return post(ctx, cl, base+"/publish", nil, peerPayload(id))
		},
	}
}

// dialGreeted connects and waits for a first frame containing want.
func dialGreeted(ctx context.Context, wsURL string, i int, want string) (*websocket.Conn, error) {
	c, _, err := dialer(i).DialContext(ctx, wsURL, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return nil, err
	}
	if want != "" && !bytes.Contains(b, []byte(want)) {
		c.Close()
		return nil, fmt.Errorf("unexpected greeting %.100s", b)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

// post sends body with headers h and expects a 2xx.
func post(ctx context.Context, cl *http.Client, url string, h http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytesReader(body))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %.200s", hidePath(url), resp.StatusCode, b)
	}
	return nil
}
