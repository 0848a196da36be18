package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// SPEC §3 admin API: every route and its JSON shape.
func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")

	// Tenants.
	r := e.adminDo(t, "GET", "/admin/tenants", "")
	expectStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"`+tn.name+`"`) {
		t.Errorf("tenant list lacks %s", tn.name)
	}
	name := "adm-" + fmt.Sprint(tenantSeq.Add(1))
	r = e.adminDo(t, "POST", "/admin/tenants", `{"name":"`+name+`","quota":"1MiB","max_entries":5}`)
	expectStatus(t, r, 201)
	hasKeys(t, "tenant", r.body, "name", "id", "quota", "max_entries")
	expectErr(t, e.adminDo(t, "POST", "/admin/tenants", `{"name":"x","bogus":1}`), 400, "bad_request")

	// Tokens: issue {token,jti,expires_at} with no-store; list; revoke.
	r = e.adminDo(t, "POST", "/admin/tokens", `{"tenant":"`+name+`","subject":"s","role":"write","ttl":"2h"}`)
	expectStatus(t, r, 201)
	checkKeys(t, "issued token", r.body, "token", "jti", "expires_at")
	var iss struct{ Token, JTI, ExpiresAt string }
	json.Unmarshal(r.body, &struct {
		Token     *string `json:"token"`
		JTI       *string `json:"jti"`
		ExpiresAt *string `json:"expires_at"`
	}{&iss.Token, &iss.JTI, &iss.ExpiresAt})
	if c := jwtClaims(t, iss.Token); c["jti"] != iss.JTI || c["tenant"] != name || c["role"] != "write" {
		t.Errorf("issued claims %v", c)
	}
	if _, err := time.Parse(time.RFC3339, iss.ExpiresAt); err != nil {
		t.Errorf("expires_at %q", iss.ExpiresAt)
	}
	expectErr(t, e.adminDo(t, "POST", "/admin/tokens", `{"tenant":"`+name+`","subject":"s","role":"ops","ttl":"1h"}`), 400, "bad_request")
	expectErr(t, e.adminDo(t, "POST", "/admin/tokens", `{"tenant":"no-such-tenant-q","subject":"s","role":"read","ttl":"1h"}`), 404, "not_found")
	r = e.adminDo(t, "GET", "/admin/tokens?tenant="+name, "")
	expectStatus(t, r, 200)
	if !strings.Contains(string(r.body), iss.JTI) || strings.Contains(string(r.body), iss.Token) {
		t.Errorf("token list: want the jti and never the token: %s", r.body)
	}
	expectStatus(t, do(t, req{url: e.d.URL() + "/api/list", token: iss.Token}), 200)
	expectStatus(t, e.adminDo(t, "DELETE", "/admin/tokens/"+iss.JTI, ""), 200)
	eventually(t, time.Second, "revoked token refused", func() bool {
		return do(t, req{url: e.d.URL() + "/api/list", token: iss.Token, hdr: map[string]string{"X-Forwarded-For": fakeClient()}}).status == 401
	})
	expectErr(t, e.adminDo(t, "DELETE", "/admin/tokens/no-such-jti", ""), 404, "not_found")

	// Revocations by subject.
	t1 := e.issue(t, name, "rev", "read", "1h")
	r = e.adminDo(t, "POST", "/admin/revocations", `{"tenant":"`+name+`","subject":"rev"}`)
	expectStatus(t, r, 200)
	eventually(t, time.Second, "subject revocation", func() bool {
		return do(t, req{url: e.d.URL() + "/api/list", token: t1, hdr: map[string]string{"X-Forwarded-For": fakeClient()}}).status == 401
	})

	// Keys: list (no rotation here: the shared server's tokens must keep working).
	r = e.adminDo(t, "GET", "/admin/keys", "")
	expectStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"kid"`) || strings.Contains(string(r.body), "PRIVATE") {
		t.Errorf("keys: %s", r.body)
	}
	expectErr(t, e.adminDo(t, "POST", "/admin/keys/no-such-kid/retire", ""), 404, "not_found")

	// Connections: id is a string; DELETE closes the socket.
	ws := dialWS(t, e.d.URL(), tn.read, nil)
	ws.subscribe(t, "conn-client", nil, "")
	r = e.adminDo(t, "GET", "/admin/connections", "")
	expectStatus(t, r, 200)
	var conns struct {
		Connections []map[string]json.RawMessage `json:"connections"`
	}
	r.json(t, &conns)
	var id string
	for _, c := range conns.Connections {
		raw, _ := json.Marshal(c)
		checkKeys(t, "connection", raw, "id", "tenant", "subject", "client_id", "remote_addr", "connected_at", "messages_in", "messages_out")
		var s string
		if err := json.Unmarshal(c["id"], &s); err != nil || s == "" {
			t.Errorf("connection id %s is not a string", c["id"])
		}
		if string(c["client_id"]) == `"conn-client"` {
			id = s
			if string(c["tenant"]) != `"`+tn.name+`"` || string(c["subject"]) != `"alice"` {
				t.Errorf("connection %s", raw)
			}
		}
	}
	if id == "" {
		t.Fatalf("subscribed socket not listed: %s", r.body)
	}
	expectStatus(t, e.adminDo(t, "DELETE", "/admin/connections/"+id, ""), 200)
	if code := ws.closeCode(t, 3*time.Second); code == -1 {
		t.Errorf("DELETE /admin/connections did not close the socket with a close frame")
	}
	expectErr(t, e.adminDo(t, "DELETE", "/admin/connections/999999999", ""), 404, "not_found")

	// Tenant delete.
	expectStatus(t, e.adminDo(t, "DELETE", "/admin/tenants/"+name, ""), 200)
	expectErr(t, e.adminDo(t, "DELETE", "/admin/tenants/"+name, ""), 404, "not_found")

	// Audit: admin actions and failed admin authentications, with actor and target.
	bad := fakeClient()
	do(t, req{url: e.d.URL() + "/admin/tenants", token: tn.admin, hdr: map[string]string{"X-Forwarded-For": bad}})
	r = e.adminDo(t, "GET", "/admin/audit", "")
	expectStatus(t, r, 200)
	body := string(r.body)
	for _, want := range []string{"ops:conformance", name, bad} {
		if !strings.Contains(body, want) {
			t.Errorf("audit lacks %q", want)
		}
	}
	if strings.Contains(body, tn.admin) || strings.Contains(body, iss.Token) {
		t.Errorf("audit holds a token")
	}
	// syncctl local actions are audited as local:<uid>.
	r2 := mustCtl(t, "--data", e.d.dataDir, "audit", "--json")
	if !strings.Contains(r2.stdout, `"local:`) {
		t.Errorf("no local:<uid> actor in audit")
	}
}

// SPEC §3: /metrics needs the ops token, is Prometheus text, labelled by route
// template and never by path.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	secret := "secret-name-7f3a.txt"
	tn.put(t, secret, "x")
	tn.api(t, "GET", "/api/files/"+secret, tn.read, nil, nil)
	r := do(t, req{url: e.d.URL() + "/metrics", token: e.ops})
	expectStatus(t, r, 200)
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("metrics Content-Type %q", ct)
	}
	body := string(r.body)
	if !strings.Contains(body, "# TYPE") {
		t.Errorf("not Prometheus text")
	}
	if strings.Contains(body, secret) || strings.Contains(body, tn.name) {
		t.Errorf("metrics labelled by path or tenant")
	}
	if !strings.Contains(body, "/api/files/") {
		t.Errorf("metrics lack a route-template label for /api/files: %.500s", body)
	}
}

// SPEC §4: a socket that does not authenticate within 10 s is closed with 4001.
func TestWSAuthTimeout(t *testing.T) {
	t.Parallel()
	e := shared(t)
	c, _, err := dialRaw(e.d.URL(), "", map[string][]string{"X-Forwarded-For": {fakeClient()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	code := closeCodeOf(t, c, 15*time.Second)
	if code != 4001 {
		t.Errorf("close %d, want 4001", code)
	}
	if el := time.Since(start); el < 9*time.Second {
		t.Errorf("closed after %v, before the 10 s Auth window", el)
	}
}
