package hub

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestConnSize keeps the per-socket struct in its allocation size class: every idle
// socket holds one (docs/BENCHMARKS.md, idle connection memory). A field that pushes
// it past 320 bytes costs 32 more per socket: pack it with the small fields, or raise
// this bound knowingly.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 320 {
		t.Fatalf("conn is %d bytes, over the 320-byte size class", n)
	}
}

// clientFrame is a masked client text or ping frame (mask key 0, so the payload is
// sent as is).
func clientFrame(opcode byte, payload []byte) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 0, 0, 0, 0)
	return append(b, payload...)
}

// TestFrameLargerThanReadBuffer: frames from a few bytes to 60 KiB, around and far past
// the 128-byte read buffer, sent back to back in one write (so that they straddle the
// buffer at every offset), are each read whole; a ping with the largest control
// payload (125 bytes) is answered.
func TestFrameLargerThanReadBuffer(t *testing.T) {
	e := newEnv(t, Options{})
	c, _ := e.subscribe(e.token("acme", "alice", "read"), "c1", nil)
	defer c.close()
	pongs := make(chan string, 1)
	c.ws.SetPongHandler(func(s string) error { pongs <- s; return nil })
	const ping = `{"type":"Ping","pad":"`
	var wire []byte
	sizes := []int{15, 100, 122, 127, 128, 129, 131, 200, 255, 256, 257, 1000, 4096, 5000, 60 << 10}
	for i, n := range sizes {
		pad := max(n-len(ping)-2, 0)
		wire = append(wire, clientFrame(websocket.TextMessage, []byte(ping+strings.Repeat("x", pad)+`"}`))...)
		if i == 7 {
			wire = append(wire, clientFrame(websocket.PingMessage, []byte(strings.Repeat("p", 125)))...)
		}
	}
	if _, err := c.ws.NetConn().Write(wire); err != nil {
		t.Fatal(err)
	}
	for i := range sizes {
		if m := c.read(); m["type"] != "Pong" {
			t.Fatalf("frame %d (%d bytes): got %v", i, sizes[i], m)
		}
	}
	select {
	case s := <-pongs:
		if s != strings.Repeat("p", 125) {
			t.Fatalf("pong payload %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no pong for the 125-byte ping")
	}
}

// TestSharedPrincipal: the sockets of one token share one principal; a Refresh gives
// its socket the new token's and leaves the others' alone; revoking the old token
// closes only the sockets still on it.
func TestSharedPrincipal(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	tok, rec, err := e.auth.IssueTenantToken(ctx, "acme", "alice", "read", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := e.subscribe(tok, "a", nil)
	defer a.close()
	b := e.dial("") // through the Auth frame
	defer b.close()
	b.send(map[string]any{"type": "Auth", "token": tok})
	b.send(map[string]any{"type": "Subscribe", "client_id": "b"})
	if m := b.read(); m["type"] != "Ack" {
		t.Fatalf("b: %v", m)
	}
	r, _ := e.subscribe(tok, "r", nil)
	defer r.close()
	principals := func() map[string]int {
		e.hub.mu.RLock()
		defer e.hub.mu.RUnlock()
		out := map[string]int{}
		seen := map[any]int{}
		for _, c := range e.hub.conns {
			p := c.principal.Load()
			if _, ok := seen[p]; !ok {
				seen[p] = len(seen)
			}
			out[c.clientID] = seen[p]
		}
		return out
	}
	if got := principals(); len(got) != 3 || got["a"] != got["b"] || got["a"] != got["r"] {
		t.Fatalf("principals by socket: %v, want one shared", got)
	}
	newTok := e.token("acme", "alice", "read")
	r.send(map[string]any{"type": "Refresh", "token": newTok})
	if m := r.read(); m["type"] != "Ack" {
		t.Fatalf("refresh: %v", m)
	}
	if got := principals(); got["a"] != got["b"] || got["a"] == got["r"] {
		t.Fatalf("principals by socket after r's refresh: %v", got)
	}
	if p := e.hub.connByClient("r").principal.Load(); p.ExpiresAt.Before(time.Now().Add(59 * time.Minute)) {
		t.Fatalf("refreshed socket's token expires at %v", p.ExpiresAt)
	}
	if err := e.auth.RevokeJTI(ctx, rec.JTI); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a, b} {
		if code := c.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked {
			t.Fatalf("close %d, want 4005", code)
		}
	}
	r.send(map[string]any{"type": "Ping"})
	if m := r.read(); m["type"] != "Pong" {
		t.Fatalf("refreshed socket after the old token's revocation: %v", m)
	}
	waitFor(t, 10*time.Second, "the old token's slots freed", func() bool {
		e.hub.mu.RLock()
		defer e.hub.mu.RUnlock()
		_, ok := e.hub.perToken[rec.JTI]
		return !ok && len(e.hub.perToken) == 1
	})
}

// connByClient is the live connection subscribed with clientID (tests).
func (h *Hub) connByClient(clientID string) *conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.conns {
		c.infoMu.Lock()
		id := c.clientID
		c.infoMu.Unlock()
		if id == clientID {
			return c
		}
	}
	return nil
}
