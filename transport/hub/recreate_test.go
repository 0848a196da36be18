package hub

import (
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestRecreatedTenantIsAnotherTenant: a tenant deleted and created again under the
// same name is another tenant (SPEC §2, tid). Until the sweeper closes the old
// tenant's sockets (4005, up to CheckInterval later; here it never runs), they must
// not receive the new tenant's events nor reach its files (they are closed with 4005
// as soon as they try), and the new tenant's
// subscribers must get its events from seq 1 with the Ack naming its own head, not
// the old tenant's.
func TestRecreatedTenantIsAnotherTenant(t *testing.T) {
	e := newEnv(t, Options{CheckInterval: time.Hour})
	oldTok := e.token("acme", "alice", "write")
	old, _ := e.subscribe(oldTok, "c-old", nil)
	defer old.close()
	idle, idle2 := e.dial(oldTok), e.dial(oldTok) // authenticated, not subscribed yet
	defer idle.close()
	defer idle2.close()
	for _, c := range []*client{idle, idle2} {
		c.send(map[string]any{"type": "Ping"})
		if m := c.read(); m["type"] != "Pong" {
			t.Fatalf("want Pong, got %v", m)
		}
	}
	for _, p := range []string{"o1.txt", "o2.txt", "o3.txt"} {
		e.space("acme").put(p, "old "+p, tenants.Source{})
	}
	if evs := old.events(3, 5*time.Second); evs[2].Seq != 3 {
		t.Fatalf("old tenant's events: %+v", evs)
	}

	e.removeTenant("acme")
	e.st.Tenant(t, "acme", tenants.Options{})
	e.space("acme").put("keep.txt", "the new tenant's file", tenants.Source{})
	fresh, ack := e.subscribe(e.token("acme", "bob", "read"), "c-new", nil)
	defer fresh.close()
	if ack["seq"] != float64(1) {
		t.Fatalf("new tenant's Ack: %v, want seq 1 (its own head)", ack)
	}
	for i, p := range []string{"n2.txt", "n3.txt", "n4.txt"} {
		if seq := e.space("acme").put(p, "new "+p, tenants.Source{}); seq != int64(i+2) {
			t.Fatalf("put %s: seq %d", p, seq)
		}
	}
	evs := fresh.events(3, 5*time.Second)
	for i, ev := range evs {
		if ev.Seq != int64(i+2) {
			t.Fatalf("new tenant's subscriber got seq %d as event %d, want %d", ev.Seq, i, i+2)
		}
	}
	old.quiet(300 * time.Millisecond)

	// The old token's sockets that had not subscribed yet reach nothing of the new
	// tenant: closed with 4005 as the token no longer is valid.
	idle.send(map[string]any{"type": "Subscribe", "client_id": "c-idle", "since": 0})
	if code := idle.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked {
		t.Fatalf("old token's Subscribe after the tenant was recreated: close %d, want 4005", code)
	}
	idle2.send(map[string]any{"type": "FileOperation", "operation_id": "op1",
		"operation": map[string]any{"Delete": map[string]any{"metadata": map[string]any{"path": "keep.txt"}}}})
	if code := idle2.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked {
		t.Fatalf("old token's FileOperation after the tenant was recreated: close %d, want 4005", code)
	}
	if _, head := e.space("acme").Head(); head != 4 {
		t.Fatalf("new tenant's head %d, want 4", head)
	}
}
