package hub_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestRealServerOverTLS: the WebSocket protocol of SPEC §4 over wss (the real server
// behind TLS, real gorilla clients): header and Auth-frame authentication, live events
// in order with echo suppression, batch frames, resume with since/epoch, a client that
// stops answering pings, an oversized and a binary frame, and revocation.
func TestRealServerOverTLS(t *testing.T) {
	e := newRealTLSEnv(t, tenants.Limits{}, func(c *config.Config) {
		c.WebSocket.PingInterval = config.Duration(200 * time.Millisecond)
		c.WebSocket.PongTimeout = config.Duration(time.Second)
	})
	alice := e.token("acme", "alice", "write")
	self, _ := e.subscribe(alice, "laptop", nil)
	byFrame, _, err := e.dial("")
	if err != nil {
		t.Fatal(err)
	}
	byFrame.send(map[string]any{"type": "Auth", "token": e.token("acme", "bob", "read")})
	byFrame.send(map[string]any{"type": "Subscribe", "client_id": "phone", "batch": true})
	if m := byFrame.next(5 * time.Second); m["type"] != "Ack" {
		t.Fatalf("Auth-frame subscriber: %v", m)
	}
	var last int64
	for i := 0; i < 20; i++ {
		last = e.upload(alice, fmt.Sprintf("tls/f%02d", i), "laptop", []byte(fmt.Sprint("content ", i)))
	}
	for i := last - 19; i <= last; i++ {
		if ev := byFrame.event(5 * time.Second); ev.Seq != i || ev.SourceSubject != "alice" {
			t.Fatalf("event %+v, want seq %d", ev, i)
		}
	}
	self.quiet(300 * time.Millisecond) // its own changes are not echoed; pings answered

	sp, err := e.reg.Space(e.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	epoch, _ := sp.Head()
	again, ack := e.subscribe(e.token("acme", "bob", "read"), "phone2", map[string]any{"since": last - 5, "epoch": epoch})
	if ack["seq"] != float64(last) {
		t.Fatalf("resume Ack %v", ack)
	}
	for i := last - 4; i <= last; i++ {
		if ev := again.event(5 * time.Second); ev.Seq != i {
			t.Fatalf("replayed seq %d, want %d", ev.Seq, i)
		}
	}

	mute, _, err := e.dialer.Dial(e.wsURL, http.Header{"Authorization": {"Bearer " + alice}})
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	mute.SetPingHandler(func(string) error { return nil })
	_ = mute.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := mute.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == websocket.ClosePolicyViolation {
			break
		}
		if err != nil {
			t.Fatalf("no pong: %v, want close 1008", err)
		}
	}
	big, _ := e.subscribe(alice, "big", nil)
	if err := big.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"Ping","pad":"`+strings.Repeat("x", 65<<10)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if code := big.closeCode(5 * time.Second); code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized frame: close %d, want 1009", code)
	}
	bin, _ := e.subscribe(alice, "bin", nil)
	if err := bin.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"Ping"}`)); err != nil {
		t.Fatal(err)
	}
	if code := bin.closeCode(5 * time.Second); code != websocket.ClosePolicyViolation {
		t.Fatalf("binary frame: close %d, want 1008", code)
	}
	if _, err := e.auth.RevokeSubject(e.ctx, "acme", "bob"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsClient{byFrame, again} {
		if code := c.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked {
			t.Fatalf("revoked: close %d, want 4005", code)
		}
	}
}
