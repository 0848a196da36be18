package hub

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/tenants"
)

// TestResetTenantCloses1012: a tenant whose history changed under its subscribers
// (another node's new epoch) closes them with 1012, and the events that follow are
// dispatched from the new head.
func TestResetTenantCloses1012(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("acme", "alice", "read")
	a, _ := e.subscribe(tok, "c1", nil)
	defer a.close()
	e.space("acme").put("x", "1", tenants.Source{})
	if evs := a.events(1, 3*time.Second); len(evs) != 1 {
		t.Fatalf("events %v", evs)
	}
	e.hub.resetTenant(e.space("acme").id(), "new-epoch", 0)
	if code := a.closeCode(3 * time.Second); code != websocket.CloseServiceRestart {
		t.Fatalf("close %d, want 1012", code)
	}
	b, _ := e.subscribe(tok, "c2", nil)
	defer b.close()
	e.space("acme").put("y", "2", tenants.Source{})
	if evs := b.events(1, 3*time.Second); len(evs) != 1 || evs[0].Seq != 2 {
		t.Fatalf("events after the reset %v", evs)
	}
}

// TestSetUnavailable: an unavailable hub closes its sockets with 1012 and refuses
// upgrades with 503 until it is available again.
func TestSetUnavailable(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("acme", "alice", "read")
	a, _ := e.subscribe(tok, "c1", nil)
	defer a.close()
	e.hub.SetUnavailable(true)
	if code := a.closeCode(3 * time.Second); code != websocket.CloseServiceRestart {
		t.Fatalf("close %d, want 1012", code)
	}
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	if _, resp, err := e.dialRaw(hdr); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade while unavailable: %v", err)
	}
	e.hub.SetUnavailable(false)
	b, _ := e.subscribe(tok, "c2", nil)
	b.close()
}
