package hub_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants"
)

// TestRefreshFailuresCountTowardsLimiter: a Refresh frame whose token does not verify
// is a failed authentication of the socket's client address, as a bad bearer token
// on HTTP is (SPEC §2): past the burst, Refresh frames get Error rate_limited and the
// address's HTTP requests with bad tokens get 429, while the socket, authenticated,
// stays open and a valid Refresh still works (a token that verifies is never refused).
func TestRefreshFailuresCountTowardsLimiter(t *testing.T) {
	e := newRealEnv(t, tenants.Limits{}, nil)
	c, _, err := e.dial(e.token("acme", "alice", "read"))
	if err != nil {
		t.Fatal(err)
	}
	const forged = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"
	var codes []string
	for i := 0; i < 12; i++ {
		c.send(map[string]any{"type": "Refresh", "token": forged, "operation_id": "r"})
		m := c.next(5 * time.Second)
		if m["type"] != "Error" {
			t.Fatalf("bad refresh %d: %v", i, m)
		}
		codes = append(codes, m["code"].(string))
	}
	if codes[0] != "unauthenticated" || codes[len(codes)-1] != "rate_limited" {
		t.Fatalf("codes of 12 bad Refresh frames: %v; want unauthenticated, then rate_limited past the burst", codes)
	}
	req, _ := http.NewRequest("GET", e.http.URL+"/api/list", nil)
	req.Header.Set("Authorization", "Bearer "+forged)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("HTTP with a bad token after the bad refreshes: %d, want 429", resp.StatusCode)
	}
	newer, _, err := e.auth.IssueTenantToken(e.ctx, "acme", "alice", "read", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.send(map[string]any{"type": "Refresh", "token": newer, "operation_id": "ok"})
	if m := c.next(5 * time.Second); m["type"] != "Ack" || m["operation_id"] != "ok" {
		t.Fatalf("valid refresh while the address is limited: %v", m)
	}
}
