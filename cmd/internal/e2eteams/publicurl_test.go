package e2eteams_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
)

// forged sends an authenticated JSON POST with a forged Host and X-Forwarded-*
// headers (a Host-header injection) and returns the answer's field name.
func forged(t *testing.T, base, token, path, body, field string) string {
	t.Helper()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example"
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("POST %s: %v in %s", path, err, b)
	}
	s, _ := m[field].(string)
	return s
}

// TestLinksIgnoreForgedHost: without web.public_url, share links and device
// credentials name the listen address (SPEC §7.2), whatever Host and X-Forwarded-*
// the request carried; with it, they name web.public_url.
func TestLinksIgnoreForgedHost(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	admin := e.s.Token(t, "acme", "alice", auth.RoleAdmin)
	if u := forged(t, e.s.URL, e.full, "/api/shares", `{"path":"proj/a","expires_in":"1h"}`, "url"); !strings.HasPrefix(u, e.s.URL+"/s/") {
		t.Errorf("share link %q, want it under %s/s/", u, e.s.URL)
	}
	if u := forged(t, e.s.URL, admin, "/api/team/tokens", `{"subject":"dan","role":"write","device":"laptop"}`, "server"); u != e.s.URL {
		t.Errorf("device credential's server %q, want %s", u, e.s.URL)
	}

	const public = "https://sync.example.com/base"
	s := syncdtest.Start(t, syncdtest.Options{Config: map[string]any{"web": map[string]any{"public_url": public + "/"}}})
	s.Tenant(t, "acme", tenants.Options{})
	tok := s.Token(t, "acme", "owner", auth.RoleWrite)
	e2 := &env{s: s, full: tok}
	e2.put(t, tok, "f.txt", "x")
	if u := forged(t, s.URL, tok, "/api/shares", `{"path":"f.txt","expires_in":"1h"}`, "url"); !strings.HasPrefix(u, public+"/s/") {
		t.Errorf("share link %q, want it under %s/s/", u, public)
	}
	if u := forged(t, s.URL, s.Token(t, "acme", "alice", auth.RoleAdmin), "/api/team/tokens", `{"subject":"dan","role":"write","device":"laptop"}`, "server"); u != public {
		t.Errorf("device credential's server %q, want %s", u, public)
	}
}
