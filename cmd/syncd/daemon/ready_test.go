//go:build !windows

package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/transport/server"
)

// TestSingleNodeKeepsSocketsWhenUnready: a single node has no other node to send its
// clients to, so it does not close its WebSockets with 1012 when its store fails the
// readiness check (SPEC §7.1's answer to a node that cannot reach PostgreSQL is cluster
// mode's); /readyz still answers 503. On a loaded machine a SQLite ping slower than
// the check's 2 s closed all 1,000 sockets of reliability's TestLoad, which came
// straight back to the same node. Here the store is closed under the running node.
func TestSingleNodeKeepsSocketsWhenUnready(t *testing.T) {
	d := startWithConfig(t, map[string]any{})
	ctx := context.Background()
	if _, err := d.Registry().Create(ctx, "team", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	tok, _, err := d.Auth().IssueTenantToken(ctx, "team", "r", "read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ws := subscribed(t, d, tok, "c1", 0)

	if err := d.node.DB.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _ := readyz(t, d); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d with the store closed, want 503", code)
	}
	// Three readiness checks go by without a close.
	ws.SetReadDeadline(time.Now().Add(3*server.ReadyInterval + time.Second))
	_, msg, err := ws.ReadMessage()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("the socket got %q, %v; want it left open (no close 1012 on a single node)", msg, err)
	}
}

// TestLostStoreIs503: while the store does not answer (here the single node's SQLite
// closed under the running node), a request that fails on it gets what /readyz says,
// 503 unavailable with Retry-After, which clients retry; before session 26 every
// route answered 500 internal, which realtime-sync-client counts against the change
// instead of waiting for the server.
func TestLostStoreIs503(t *testing.T) {
	d := startWithConfig(t, map[string]any{})
	ctx := context.Background()
	if _, err := d.Registry().Create(ctx, "team", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	tok, _, err := d.Auth().IssueTenantToken(ctx, "team", "w", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+d.Addr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Code, resp.Header.Get("Retry-After")
	}
	if st, _, _ := do(http.MethodPut, "/api/files/a.txt", "a"); st != http.StatusCreated {
		t.Fatalf("PUT before: %d", st)
	}
	if err := d.node.DB.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPut, "/api/files/b.txt", "b"},
		{http.MethodGet, "/api/files/a.txt", ""},
		{http.MethodGet, "/api/list", ""},
		{http.MethodGet, "/api/changes?since=0", ""},
		{http.MethodPost, "/api/mkdir", `{"path":"d"}`},
	} {
		st, code, retry := do(r.method, r.path, r.body)
		if st != http.StatusServiceUnavailable || code != "unavailable" || retry == "" {
			t.Errorf("%s %s with the store lost: %d %q Retry-After %q, want 503 unavailable with Retry-After", r.method, r.path, st, code, retry)
		}
	}
}
