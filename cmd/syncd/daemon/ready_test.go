//go:build !windows

package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
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
