package syncdtest

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/syncspace/syncspace/tenants"
)

func status(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/list", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestServer(t *testing.T) {
	s := Start(t, Options{Config: map[string]any{"log": map[string]any{"level": "error"}}})
	s.Tenant(t, "acme", tenants.Options{})
	s.Tenant(t, "acme", tenants.Options{}) // exists: kept
	tok := s.Token(t, "acme", "alice", "read")
	if got := status(t, s.URL, tok); got != 200 {
		t.Fatalf("GET /api/list = %d, want 200", got)
	}
	if got := status(t, s.URL, "nope"); got != 401 {
		t.Fatalf("GET /api/list with a bad token = %d, want 401", got)
	}
	ws := s.Dial(t, tok)
	if err := ws.WriteJSON(map[string]any{"type": "Ping", "id": "p1"}); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := ws.ReadJSON(&m); err != nil || m["type"] != "Pong" {
		t.Fatalf("ping: %v %v", m, err)
	}
	addr := s.Addr()
	if err := s.Restart(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if got := status(t, s.URL, tok); got != 200 {
		t.Fatalf("after restart: GET /api/list = %d, want 200 (same data dir, same keys)", got)
	}
}
