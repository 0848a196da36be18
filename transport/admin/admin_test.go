package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/httperr"
	"github.com/syncspace/syncspace/transport/servertest"
)

// fakeHub stands in for transport/hub's connection list (owned elsewhere); it only
// records what the admin API asks of it.
type fakeHub struct {
	mu    sync.Mutex
	conns map[string]bool
}

func (h *fakeHub) list() any {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []map[string]any{}
	for id := range h.conns {
		out = append(out, map[string]any{"id": id, "tenant": "acme", "subject": "alice"})
	}
	return out
}

func (h *fakeHub) disconnect(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.conns[id] {
		return false
	}
	delete(h.conns, id)
	return true
}

type env struct {
	svc *auth.Service
	reg *tenants.Registry
	srv *httptest.Server
	ops string
	hub *fakeHub
}

func newEnv(t testing.TB) *env {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	st := servertest.Open(t, servertest.Options{Logger: logger, NoRun: true})
	svc, reg := st.Auth, st.Registry
	mw := authmw.New(svc, authmw.Options{Logger: logger})
	e := echo.New()
	e.HTTPErrorHandler = httperr.Handler(logger)
	hub := &fakeHub{conns: map[string]bool{"c1": true, "c2": true}}
	if err := Register(e.Group("/admin"), Options{Auth: svc, Tenants: reg, MW: mw, Logger: logger, ParseSize: config.ParseSize,
		ListConnections: hub.list, Disconnect: hub.disconnect}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &env{svc: svc, reg: reg, srv: srv, ops: st.OpsToken(t, "root"), hub: hub}
}

func (e *env) do(t testing.TB, method, path, body string, token string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: body %q not JSON", method, path, raw)
		}
	}
	return resp.StatusCode, resp.Header, m
}

func TestAdminFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	st, _, m := e.do(t, "POST", "/admin/tenants", `{"name":"acme","quota":"10GiB","max_file_size":1048576,"max_entries":500}`, e.ops)
	if st != 201 || m["name"] != "acme" || m["quota"] != float64(10<<30) || m["max_file_size"] != float64(1<<20) || m["max_entries"] != float64(500) {
		t.Fatalf("create: %d %v", st, m)
	}
	if st, _, _ := e.do(t, "POST", "/admin/tenants", `{"name":"acme"}`, e.ops); st != 409 {
		t.Fatalf("create twice: %d", st)
	}
	st, _, m = e.do(t, "GET", "/admin/tenants", "", e.ops)
	if st != 200 || len(m["tenants"].([]any)) != 1 {
		t.Fatalf("list: %d %v", st, m)
	}

	st, h, m := e.do(t, "POST", "/admin/tokens", `{"tenant":"acme","subject":"alice","role":"write","ttl":"2h"}`, e.ops)
	if st != 201 || m["token"] == "" || m["jti"] == "" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("issue: %d %v %v", st, m, h)
	}
	tok, jti := m["token"].(string), m["jti"].(string)
	exp, _ := time.Parse(time.RFC3339, m["expires_at"].(string))
	if d := time.Until(exp); d < 119*time.Minute || d > 121*time.Minute {
		t.Fatalf("expires_at %v", exp)
	}
	p, err := e.svc.Verify(ctx, tok, auth.AudienceTenant)
	if err != nil || p.Tenant != "acme" || p.Role != "write" {
		t.Fatalf("issued token: %+v %v", p, err)
	}
	st, _, m = e.do(t, "POST", "/admin/tokens", `{"tenant":"acme","subject":"bob","role":"read","ttl":3600}`, e.ops)
	if st != 201 {
		t.Fatalf("issue with seconds: %d %v", st, m)
	}
	st, h, m = e.do(t, "GET", "/admin/tokens?tenant=acme", "", e.ops)
	if st != 200 || len(m["tokens"].([]any)) != 2 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("list tokens: %d %v", st, m)
	}
	if strings.Contains(mustJSON(m), tok) {
		t.Fatal("token listing holds a token")
	}
	if st, _, _ := e.do(t, "DELETE", "/admin/tokens/"+jti, "", e.ops); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if _, err := e.svc.Verify(ctx, tok, auth.AudienceTenant); err == nil {
		t.Fatal("revoked token verifies")
	}
	st, _, m = e.do(t, "POST", "/admin/revocations", `{"tenant":"acme","subject":"bob"}`, e.ops)
	if st != 200 || m["revoked"] != float64(1) {
		t.Fatalf("revoke subject: %d %v", st, m)
	}

	st, _, m = e.do(t, "POST", "/admin/keys/rotate", "", e.ops)
	if st != 201 || m["kid"] == "" || m["signing"] != true {
		t.Fatalf("rotate: %d %v", st, m)
	}
	newKid := m["kid"].(string)
	st, _, m = e.do(t, "GET", "/admin/keys", "", e.ops)
	keys := m["keys"].([]any)
	if st != 200 || len(keys) != 2 {
		t.Fatalf("keys: %d %v", st, m)
	}
	oldKid := keys[0].(map[string]any)["kid"].(string)
	// The ops token was signed by the old key: retiring it ends this very session.
	if st, _, _ := e.do(t, "POST", "/admin/keys/"+oldKid+"/retire", "", e.ops); st != 200 {
		t.Fatalf("retire: %d", st)
	}
	if st, _, _ := e.do(t, "GET", "/admin/keys", "", e.ops); st != 401 {
		t.Fatalf("ops token of retired key: %d", st)
	}
	ops2, _, err := e.svc.IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st, _, _ := e.do(t, "POST", "/admin/keys/"+newKid+"/retire", "", ops2); st != 409 {
		t.Fatalf("retire last key: %d", st)
	}

	st, _, m = e.do(t, "GET", "/admin/connections", "", ops2)
	if st != 200 || len(m["connections"].([]any)) != 2 {
		t.Fatalf("connections: %d %v", st, m)
	}
	if st, _, _ := e.do(t, "DELETE", "/admin/connections/c1", "", ops2); st != 200 {
		t.Fatalf("disconnect: %d", st)
	}
	if st, _, _ := e.do(t, "DELETE", "/admin/connections/c1", "", ops2); st != 404 {
		t.Fatalf("disconnect twice: %d", st)
	}

	if st, _, _ := e.do(t, "DELETE", "/admin/tenants/acme", "", ops2); st != 200 {
		t.Fatalf("delete tenant: %d", st)
	}
	if st, _, _ := e.do(t, "DELETE", "/admin/tenants/acme", "", ops2); st != 404 {
		t.Fatalf("delete twice: %d", st)
	}

	st, _, m = e.do(t, "GET", "/admin/audit?limit=100", "", ops2)
	if st != 200 {
		t.Fatalf("audit: %d", st)
	}
	var actions []string
	for _, x := range m["entries"].([]any) {
		en := x.(map[string]any)
		actions = append(actions, en["action"].(string)+":"+en["outcome"].(string))
		if en["action"] != "auth.failed" && (en["actor"] != "ops:root" || en["jti"] == "" || en["address"] != "127.0.0.1") {
			t.Fatalf("audit entry %v", en)
		}
	}
	want := []string{"tenant.create:ok", "tenant.create:conflict", "tenant.list:ok", "token.issue:ok", "token.issue:ok",
		"token.list:ok", "token.revoke:ok", "token.revoke_subject:ok", "key.rotate:ok", "key.list:ok", "key.retire:ok",
		"auth.failed:unauthenticated", "key.retire:conflict", "connection.list:ok", "connection.disconnect:ok",
		"connection.disconnect:not_found", "tenant.delete:ok", "tenant.delete:not_found"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Fatalf("audit actions\n got %v\nwant %v", actions, want)
	}
	if strings.Contains(mustJSON(m), tok) {
		t.Fatal("audit holds a token")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAdminErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.reg.Create(ctx, "acme", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	tenantAdmin, _, err := e.svc.IssueTenantToken(ctx, "acme", "boss", auth.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, body string
		token                    string
		status                   int
		code                     string
	}{
		{"no token", "GET", "/admin/tenants", "", "", 401, "unauthenticated"},
		{"tenant admin token", "GET", "/admin/tenants", "", tenantAdmin, 403, "forbidden"},
		{"tenant admin issuing", "POST", "/admin/tokens", `{"tenant":"acme","subject":"x","role":"read"}`, tenantAdmin, 403, "forbidden"},
		// attacks on the bodies
		{"bad tenant name", "POST", "/admin/tenants", `{"name":"../etc"}`, "ops", 400, "bad_request"},
		{"upper-case name", "POST", "/admin/tenants", `{"name":"Acme"}`, "ops", 400, "bad_request"},
		{"unknown field", "POST", "/admin/tenants", `{"name":"x","evil":1}`, "ops", 400, "bad_request"},
		{"not JSON", "POST", "/admin/tenants", `name=x`, "ops", 400, "bad_request"},
		{"array body", "POST", "/admin/tenants", `[{"name":"x"}]`, "ops", 400, "bad_request"},
		{"trailing data", "POST", "/admin/tenants", `{"name":"x"}{"name":"y"}`, "ops", 400, "bad_request"},
		{"empty body", "POST", "/admin/tenants", ``, "ops", 400, "bad_request"},
		{"bad size", "POST", "/admin/tenants", `{"name":"x","quota":"ten"}`, "ops", 400, "bad_request"},
		{"negative size", "POST", "/admin/tenants", `{"name":"x","quota":-1}`, "ops", 400, "bad_request"},
		{"negative entries", "POST", "/admin/tenants", `{"name":"x","max_entries":-1}`, "ops", 400, "bad_request"},
		{"huge body", "POST", "/admin/tenants", `{"name":"` + strings.Repeat("a", 70000) + `"}`, "ops", 413, "too_large"},
		{"token for missing tenant", "POST", "/admin/tokens", `{"tenant":"nope","subject":"a","role":"read"}`, "ops", 404, "not_found"},
		{"token bad role", "POST", "/admin/tokens", `{"tenant":"acme","subject":"a","role":"ops"}`, "ops", 400, "bad_request"},
		{"token ttl over max", "POST", "/admin/tokens", `{"tenant":"acme","subject":"a","role":"read","ttl":"9000h"}`, "ops", 400, "bad_request"},
		{"token bad ttl", "POST", "/admin/tokens", `{"tenant":"acme","subject":"a","role":"read","ttl":"soon"}`, "ops", 400, "bad_request"},
		{"token negative ttl", "POST", "/admin/tokens", `{"tenant":"acme","subject":"a","role":"read","ttl":-5}`, "ops", 400, "bad_request"},
		{"token missing subject", "POST", "/admin/tokens", `{"tenant":"acme","role":"read"}`, "ops", 400, "bad_request"},
		{"token control chars", "POST", "/admin/tokens", `{"tenant":"acme","subject":"a\u0000b","role":"read"}`, "ops", 400, "bad_request"},
		{"list bad bool", "GET", "/admin/tokens?ops=maybe", "", "ops", 400, "bad_request"},
		{"revoke unknown jti", "DELETE", "/admin/tokens/nope", "", "ops", 404, "not_found"},
		{"revoke without tenant", "POST", "/admin/revocations", `{"subject":"a"}`, "ops", 400, "bad_request"},
		{"revoke tenant and ops", "POST", "/admin/revocations", `{"tenant":"acme","ops":true,"subject":"a"}`, "ops", 400, "bad_request"},
		{"retire unknown key", "POST", "/admin/keys/nope/retire", "", "ops", 404, "not_found"},
		{"retire path-like kid", "POST", "/admin/keys/..%2F..%2Fx/retire", "", "ops", 404, "not_found"},
		{"delete bad name", "DELETE", "/admin/tenants/..", "", "ops", 404, "not_found"},
		{"audit bad limit", "GET", "/admin/audit?limit=-3", "", "ops", 400, "bad_request"},
		// attacks: a parameter given twice is refused, never half read (SPEC §3: no
		// parameter is silently dropped).
		{"attack: tenant filter twice", "GET", "/admin/tokens?tenant=acme&tenant=other", "", "ops", 400, "bad_request"},
		{"attack: subject filter twice", "GET", "/admin/tokens?tenant=acme&subject=a&subject=b", "", "ops", 400, "bad_request"},
		{"attack: ops flag twice", "GET", "/admin/tokens?ops=false&ops=true", "", "ops", 400, "bad_request"},
		{"attack: audit limit twice", "GET", "/admin/audit?limit=1&limit=1000", "", "ops", 400, "bad_request"},
		{"attack: devices tenant twice", "GET", "/admin/devices?tenant=acme&tenant=other", "", "ops", 400, "bad_request"},
		{"query token", "GET", "/admin/tenants?token=abc", "", "ops", 400, "bad_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := c.token
			if tok == "ops" {
				tok = e.ops
			}
			st, _, m := e.do(t, c.method, c.path, c.body, tok)
			if st != c.status {
				t.Fatalf("status %d, want %d (%v)", st, c.status, m)
			}
			if got := m["error"].(map[string]any)["code"]; got != c.code {
				t.Fatalf("code %v, want %s", got, c.code)
			}
		})
	}
	// Content-Type is not checked (curl -d sends a form type): the JSON body decides.
	// A compressed body is 415.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded"} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/admin/tenants", strings.NewReader(`{"name":"ct-`+strings.ReplaceAll(strings.Split(ct, "/")[1], "-", "")+`"}`))
		req.Header.Set("Authorization", "Bearer "+e.ops)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("%s: %d", ct, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/admin/tenants", strings.NewReader(`{"name":"gz"}`))
	req.Header.Set("Authorization", "Bearer "+e.ops)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("gzip body: %d", resp.StatusCode)
	}
}

// TestRequireOpsWithoutMiddleware: mounted without the Ops middleware, the handlers
// still refuse requests that carry no ops principal.
func TestRequireOpsWithoutMiddleware(t *testing.T) {
	e := newEnv(t)
	ec := echo.New()
	ec.HTTPErrorHandler = httperr.Handler(nil)
	if err := Register(ec.Group("/admin"), Options{Auth: e.svc, Tenants: e.reg, ParseSize: config.ParseSize}); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/admin/tenants", nil)
	r.Header.Set("Authorization", "Bearer "+e.ops)
	ec.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("status %d", w.Code)
	}
}

// FuzzAdminBodies posts arbitrary bodies to every body-taking route: the answer is
// never a 5xx and the server never panics.
func FuzzAdminBodies(f *testing.F) {
	e := newEnv(f)
	for _, s := range []string{`{"name":"acme"}`, `{"name":"x","quota":"1GiB"}`, `{"tenant":"acme","subject":"a","role":"read","ttl":"1h"}`,
		`{"tenant":"acme","subject":"a"}`, `{"ttl":1e400}`, `{"quota":"1.5KiB"}`, `null`, `{}`, `{"name":"a","max_entries":1e30}`} {
		for i := 0; i < 3; i++ {
			f.Add(s, i)
		}
	}
	paths := []string{"/admin/tenants", "/admin/tokens", "/admin/revocations"}
	f.Fuzz(func(t *testing.T, body string, which int) {
		if which < 0 {
			which = -which
		}
		st, _, _ := e.do(t, "POST", paths[which%len(paths)], body, e.ops)
		if st >= 500 {
			t.Fatalf("status %d for %q", st, body)
		}
	})
}

// TestDeviceRoutesAudited: every device route is an admin action and lands in the
// audit log with the ops actor (SPEC §3: every admin action is audited), listing
// included.
func TestDeviceRoutesAudited(t *testing.T) {
	e := newEnv(t)
	if _, err := e.reg.Create(context.Background(), "acme", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	st, _, m := e.do(t, "POST", "/admin/devices", `{"tenant":"acme","subject":"alice","role":"write","device":"laptop"}`, e.ops)
	if st != 201 {
		t.Fatalf("enroll: %d %v", st, m)
	}
	id := m["device"].(map[string]any)["id"].(string)
	if st, _, m := e.do(t, "GET", "/admin/devices?tenant=acme", "", e.ops); st != 200 || len(m["devices"].([]any)) != 1 {
		t.Fatalf("list: %d %v", st, m)
	}
	if st, _, _ := e.do(t, "DELETE", "/admin/devices/"+id, "", e.ops); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	es, err := e.svc.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range es {
		if en.Actor != "ops:root" || en.JTI == "" || en.Address != "127.0.0.1" {
			t.Fatalf("audit entry %+v", en)
		}
		actions = append(actions, en.Action+":"+en.Outcome+":"+en.Target)
	}
	want := []string{"device.enroll:ok:acme/alice/laptop id=" + id, "device.list:ok:acme", "device.revoke:ok:acme/alice/laptop id=" + id}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Fatalf("audit actions\n got %v\nwant %v", actions, want)
	}
}
