package hub_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestRealServerRefreshCountsPerTokenCap (issue 11 item 6, SPEC §4): the per-token
// socket cap (limits.ws_per_token, counted per jti) holds across Refresh. Before the
// fix, sockets opened with T1 and refreshed to T2 put any number of sockets on T2.
func TestRealServerRefreshCountsPerTokenCap(t *testing.T) {
	e := newRealEnv(t, tenants.Limits{}, func(c *config.Config) { c.Limits.WSPerToken = 2 })
	issue := func(ttl time.Duration) (string, auth.TokenRecord) {
		t.Helper()
		tok, rec, err := e.auth.IssueTenantToken(e.ctx, "acme", "alice", "write", ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok, rec
	}
	t1, rec1 := issue(time.Hour)
	t2, _ := issue(2 * time.Hour) // a later exp: a valid refresh of T1
	dialOK := func(tok string) *wsClient {
		t.Helper()
		c, _, err := e.dial(tok)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	refused := func(tok, what string) {
		t.Helper()
		if _, resp, err := e.dial(tok); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s: upgrade not refused with 429 (%v)", what, err)
		}
	}
	alive := func(c *wsClient, what string) {
		t.Helper()
		c.send(map[string]any{"type": "Ping"})
		if m := c.next(5 * time.Second); m["type"] != "Pong" {
			t.Fatalf("%s: got %v, want Pong", what, m)
		}
	}
	conns := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(e.srv.Hub().Connections()) != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections, want %d", len(e.srv.Hub().Connections()), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	b1, b2 := dialOK(t2), dialOK(t2)
	refused(t2, "third socket on T2")

	// A socket on T1 refreshing to T2 (at its cap): Error rate_limited, and it keeps T1.
	a := dialOK(t1)
	a.send(map[string]any{"type": "Refresh", "token": t2, "operation_id": "r1"})
	if m := a.next(5 * time.Second); m["type"] != "Error" || m["code"] != "rate_limited" || m["operation_id"] != "r1" {
		t.Fatalf("refresh to a token at its cap: %v", m)
	}
	alive(a, "after the refused refresh")
	a2 := dialOK(t1) // T1's second slot
	refused(t1, "third socket on T1: the refused refresh left a's slot on T1")
	// The issue's bypass, again with the second socket: still refused.
	a2.send(map[string]any{"type": "Refresh", "token": t2})
	if m := a2.next(5 * time.Second); m["type"] != "Error" || m["code"] != "rate_limited" {
		t.Fatalf("second refresh to a token at its cap: %v", m)
	}
	refused(t2, "T2 after two refused refreshes")

	// A refresh with room moves the socket's slot from T1 to T2.
	b1.ws.Close()
	conns(3)
	a.send(map[string]any{"type": "Refresh", "token": t2})
	if m := a.next(5 * time.Second); m["type"] != "Ack" || m["operation_id"] != "refresh" {
		t.Fatalf("refresh with room: %v", m)
	}
	refused(t2, "T2 full again (b2 and a)")
	a3 := dialOK(t1) // a's old slot on T1 is free
	refused(t1, "T1 full again (a2 and a3)")

	// a now holds T2: revoking T1 closes a2 and a3 (4005) but not a.
	if err := e.auth.RevokeJTI(e.ctx, rec1.JTI); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsClient{a2, a3} {
		if code := c.closeCode(5 * time.Second); code != protocol.CloseTokenRevoked {
			t.Fatalf("T1 socket after revoking T1: close %d, want 4005", code)
		}
	}
	alive(a, "the refreshed socket after revoking T1")
	alive(b2, "T2's other socket")
}
