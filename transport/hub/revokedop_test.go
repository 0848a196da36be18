package hub

import (
	"context"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestRevokedTokenCannotOperate: a FileOperation or a Subscribe on a socket whose
// token was revoked is refused at once, as HTTP refuses the token at once, even
// before the sweeper (up to CheckInterval later; here it never runs) closes the
// socket: the socket is closed with 4005 and nothing changes.
func TestRevokedTokenCannotOperate(t *testing.T) {
	e := newEnv(t, Options{CheckInterval: time.Hour})
	e.space("acme").put("keep.txt", "kept", tenants.Source{})
	tok := e.token("acme", "mallory", "write")
	p, err := e.auth.Verify(context.Background(), tok, "syncspace")
	if err != nil {
		t.Fatal(err)
	}
	op, _ := e.subscribe(tok, "m1", nil)
	defer op.close()
	sub := e.dial(tok)
	defer sub.close()
	sub.send(map[string]any{"type": "Ping"})
	if m := sub.read(); m["type"] != "Pong" {
		t.Fatalf("want Pong, got %v", m)
	}
	if err := e.auth.RevokeJTI(context.Background(), p.JTI); err != nil {
		t.Fatal(err)
	}
	op.send(map[string]any{"type": "FileOperation", "operation_id": "op1",
		"operation": map[string]any{"Delete": map[string]any{"metadata": map[string]any{"path": "keep.txt"}}}})
	if code := op.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked {
		t.Fatalf("FileOperation with a revoked token: close %d, want 4005", code)
	}
	if _, head := e.space("acme").Head(); head != 1 {
		t.Fatalf("head %d after a revoked token's Delete, want 1 (nothing changed)", head)
	}
	sub.send(map[string]any{"type": "Subscribe", "client_id": "m2", "since": 0})
	if code := sub.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked {
		t.Fatalf("Subscribe with a revoked token: close %d, want 4005", code)
	}
}
