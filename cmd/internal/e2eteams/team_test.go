package e2eteams_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
)

type teamEnv struct {
	*env
	adminA, adminB, scopedAdmin string
	opsJTI, bobB                string
}

func newTeamEnv(t *testing.T) *teamEnv {
	e := &teamEnv{env: newEnv(t)}
	s := e.s
	s.Tenant(t, "bravo", tenants.Options{})
	e.adminA = s.Token(t, "acme", "alice", auth.RoleAdmin)
	e.adminB = s.Token(t, "bravo", "mallory", auth.RoleAdmin)
	e.bobB = s.Token(t, "bravo", "bob", auth.RoleWrite)
	ctx := context.Background()
	_, rec, err := s.D.Auth().IssueOpsToken(ctx, "ops", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.opsJTI = rec.JTI
	tok, _, err := s.D.Auth().IssueTenant(ctx, auth.TenantTokenRequest{Tenant: "acme", Subject: "lead", Role: auth.RoleAdmin, TTL: time.Hour, Paths: []string{"proj"}})
	if err != nil {
		t.Fatal(err)
	}
	e.scopedAdmin = tok
	return e
}

func jtiOf(t *testing.T, s *syncdtest.Server, token string) string {
	t.Helper()
	p, err := s.D.Auth().Verify(context.Background(), token, auth.AudienceTenant)
	if err != nil {
		t.Fatal(err)
	}
	return p.JTI
}

// TestTeamAdmin: an admin runs its tenant (issue, list, revoke, audit), and the
// attacks table: another tenant, ops, a higher role or a longer expiry, wider paths.
func TestTeamAdmin(t *testing.T) {
	e := newTeamEnv(t)
	code, b := e.do(t, e.adminA, "POST", "/api/team/tokens", `{"subject":"bob","role":"read","ttl":"1h"}`)
	if code != 201 {
		t.Fatalf("issue: %d %s", code, b)
	}
	var issued struct{ Token, JTI string }
	json.Unmarshal(b, &issued)
	if code, _ := e.do(t, issued.Token, "GET", "/api/list", ""); code != 200 {
		t.Fatalf("issued token refused: %d", code)
	}
	if code, _ := e.do(t, issued.Token, "PUT", "/api/files/x", "x"); code != 403 {
		t.Fatalf("read token wrote: %d", code)
	}
	_, b = e.do(t, e.adminA, "GET", "/api/team/tokens", "")
	if !strings.Contains(string(b), issued.JTI) || strings.Contains(string(b), issued.Token) || strings.Contains(string(b), "mallory") {
		t.Fatalf("token list: %s", b)
	}
	cases := []struct {
		name, token, method, path, body string
		want                            int
	}{
		{"tenant field refused", e.adminA, "POST", "/api/team/tokens", `{"tenant":"bravo","subject":"x","role":"read"}`, 400},
		{"revoke a token of another tenant", e.adminA, "DELETE", "/api/team/tokens/" + jtiOf(t, e.s, e.bobB), "", 404},
		{"revoke an ops token", e.adminA, "DELETE", "/api/team/tokens/" + e.opsJTI, "", 404},
		{"revoke an unknown token", e.adminA, "DELETE", "/api/team/tokens/nope", "", 404},
		{"role ops", e.adminA, "POST", "/api/team/tokens", `{"subject":"x","role":"ops"}`, 403},
		{"admin beyond own expiry", e.adminA, "POST", "/api/team/tokens", `{"subject":"x","role":"admin","ttl":"2h"}`, 403},
		{"admin within own expiry", e.adminA, "POST", "/api/team/tokens", `{"subject":"x","role":"admin","ttl":"30m"}`, 201},
		{"write beyond own expiry is fine", e.adminA, "POST", "/api/team/tokens", `{"subject":"x","role":"write","ttl":"48h"}`, 201},
		{"scoped admin widening to the tenant", e.scopedAdmin, "POST", "/api/team/tokens", `{"subject":"x","role":"read","paths":["proj","other"]}`, 403},
		{"scoped admin prefix trick", e.scopedAdmin, "POST", "/api/team/tokens", `{"subject":"x","role":"read","paths":["project"]}`, 403},
		{"scoped admin dotdot", e.scopedAdmin, "POST", "/api/team/tokens", `{"subject":"x","role":"read","paths":["proj/../secret"]}`, 400},
		{"scoped admin narrower", e.scopedAdmin, "POST", "/api/team/tokens", `{"subject":"x","role":"read","paths":["PROJ/a"]}`, 201},
		{"write token on team routes", e.full, "GET", "/api/team/tokens", "", 403},
		{"admin token on ops routes", e.adminA, "GET", "/admin/tokens", "", 403},
		{"admin token issuing on ops routes", e.adminA, "POST", "/admin/tokens", `{"tenant":"acme","subject":"x","role":"admin"}`, 403},
		{"admin token rotating keys", e.adminA, "POST", "/admin/keys/rotate", "", 403},
		{"admin token creating tenants", e.adminA, "POST", "/admin/tenants", `{"name":"evil"}`, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code, b := e.do(t, c.token, c.method, c.path, c.body); code != c.want {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, code, b, c.want)
			}
		})
	}
	t.Run("scoped admin defaults to its paths", func(t *testing.T) {
		_, b := e.do(t, e.scopedAdmin, "POST", "/api/team/tokens", `{"subject":"y","role":"write"}`)
		var r struct {
			Token string
			Paths []string
		}
		json.Unmarshal(b, &r)
		if len(r.Paths) != 1 || r.Paths[0] != "proj" {
			t.Fatalf("paths %q", r.Paths)
		}
		if code, _ := e.do(t, r.Token, "GET", "/api/files/secret.txt", ""); code != 404 {
			t.Fatalf("outside: %d", code)
		}
	})
	t.Run("revocation by subject stays in the tenant", func(t *testing.T) {
		e.do(t, e.adminA, "POST", "/api/team/revocations", `{"subject":"bob"}`)
		e.s.D.Auth().Refresh(context.Background())
		if code, _ := e.do(t, issued.Token, "GET", "/api/list", ""); code != 401 {
			t.Fatalf("bob of acme still valid: %d", code)
		}
		if code, _ := e.do(t, e.bobB, "GET", "/api/list", ""); code != 200 {
			t.Fatalf("bob of bravo revoked by acme's admin: %d", code)
		}
	})
	t.Run("audit", func(t *testing.T) {
		_, b := e.do(t, e.adminA, "GET", "/api/team/audit", "")
		s := string(b)
		if !strings.Contains(s, `"actor":"tenant:acme:alice"`) || !strings.Contains(s, "team.token.issue") || strings.Contains(s, "mallory") {
			t.Fatalf("audit: %s", s)
		}
		_, b = e.do(t, e.adminB, "GET", "/api/team/audit", "")
		if strings.Contains(string(b), "acme") {
			t.Fatalf("bravo sees acme's audit: %s", b)
		}
	})
}

// TestTeamRevokeClosesSockets: a token revoked by the tenant admin loses its live
// WebSocket with 4005 within about a second.
func TestTeamRevokeClosesSockets(t *testing.T) {
	e := newTeamEnv(t)
	_, b := e.do(t, e.adminA, "POST", "/api/team/tokens", `{"subject":"carol","role":"read"}`)
	var r struct{ Token, JTI string }
	json.Unmarshal(b, &r)
	ws := e.s.Dial(t, r.Token)
	ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "carol"})
	start := time.Now()
	if code, b := e.do(t, e.adminA, "DELETE", "/api/team/tokens/"+r.JTI, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, b)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4005 {
			t.Fatalf("socket ended with %v, want 4005", err)
		}
		break
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %s", d)
	}
}

// TestTeamSyncctl: syncctl's team commands with a tenant admin token file.
func TestTeamSyncctl(t *testing.T) {
	e := newTeamEnv(t)
	e.seed(t)
	tokFile := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(tokFile, []byte(e.adminA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		full := append([]string{"--server", e.s.URL, "--token-file", tokFile, "team"}, args...)
		if code := ctl.Run(context.Background(), full, &out, &errb); code != want {
			t.Fatalf("syncctl team %q: exit %d, want %d\n%s%s", args, code, want, out.String(), errb.String())
		}
		return out.String()
	}
	tok := strings.TrimSpace(run(0, "issue", "--subject", "dave", "--role", "read", "--path", "proj/a", "--path", "proj/a/sub", "--ttl", "2h"))
	if code, _ := e.do(t, tok, "GET", "/api/files/proj/a/x.txt", ""); code != 200 {
		t.Fatalf("issued token inside: %d", code)
	}
	if code, _ := e.do(t, tok, "GET", "/api/files/secret.txt", ""); code != 404 {
		t.Fatalf("issued token outside: %d", code)
	}
	if out := run(0, "tokens", "--json"); !strings.Contains(out, `"subject": "dave"`) || strings.Contains(out, tok) {
		t.Fatalf("team tokens: %s", out)
	}
	run(1, "issue", "--subject", "eve", "--role", "admin", "--ttl", "48h") // beyond the admin's own expiry
	run(2, "revoke")
	if out := run(0, "revoke", "--subject", "dave"); !strings.Contains(out, "revoked 1 token") {
		t.Fatalf("revoke: %s", out)
	}
	credFile := filepath.Join(t.TempDir(), "laptop.json")
	run(0, "issue", "--subject", "dave", "--role", "write", "--device", "laptop", "--out", credFile)
	if b, err := os.ReadFile(credFile); err != nil || !strings.Contains(string(b), `"refresh_token"`) {
		t.Fatalf("credential file: %s %v", b, err)
	}
	run(1, "issue", "--subject", "dave", "--role", "write", "--device", "laptop2", "--out", credFile) // exists
	run(2, "issue", "--subject", "dave", "--role", "write", "--device", "laptop3")                    // no --out
	if out := run(0, "tokens", "--json"); !strings.Contains(out, `"device": "laptop"`) {
		t.Fatalf("team tokens lists no device: %s", out)
	}
	if out := run(0, "revoke", "--device", "laptop"); !strings.Contains(out, "revoked 1 device") {
		t.Fatalf("revoke device: %s", out)
	}
	if out := run(0, "audit"); !strings.Contains(out, "team.token.revoke_subject") || !strings.Contains(out, "tenant:acme:alice") {
		t.Fatalf("audit: %s", out)
	}
}

// TestTeamDevices: a tenant admin enrolls, lists and revokes its tenant's devices, and
// the attacks: another tenant's device, an admin device, a path-scoped admin.
func TestTeamDevices(t *testing.T) {
	e := newTeamEnv(t)
	code, b := e.do(t, e.adminA, "POST", "/api/team/tokens", `{"subject":"dan","role":"write","device":"laptop"}`)
	if code != 201 {
		t.Fatalf("enroll: %d %s", code, b)
	}
	var cred struct {
		RefreshToken string `json:"refresh_token"`
		Server       string `json:"server"`
		DeviceID     string `json:"device_id"`
		Tenant       string `json:"tenant"`
	}
	json.Unmarshal(b, &cred)
	if cred.RefreshToken == "" || cred.Server != e.s.URL || cred.Tenant != "acme" {
		t.Fatalf("credential %s", b)
	}
	code, b = e.do(t, "", "POST", "/api/token", `{"grant_type":"refresh_token","refresh_token":"`+cred.RefreshToken+`"}`)
	if code != 200 {
		t.Fatalf("redeem: %d %s", code, b)
	}
	var grant struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(b, &grant)
	if code, _ := e.do(t, grant.AccessToken, "GET", "/api/list", ""); code != 200 {
		t.Fatalf("device token: %d", code)
	}
	code, b = e.do(t, e.adminB, "POST", "/api/team/tokens", `{"subject":"m","role":"read","device":"phone"}`)
	if code != 201 {
		t.Fatalf("enroll in bravo: %d %s", code, b)
	}
	var bravo struct {
		DeviceID string `json:"device_id"`
	}
	json.Unmarshal(b, &bravo)
	_, b = e.do(t, e.adminA, "GET", "/api/team/devices", "")
	if !strings.Contains(string(b), cred.DeviceID) || strings.Contains(string(b), bravo.DeviceID) || strings.Contains(string(b), cred.RefreshToken) {
		t.Fatalf("devices: %s", b)
	}
	for _, c := range []struct {
		name, token, method, path, body string
		want                            int
	}{
		{"revoke another tenant's device by id", e.adminA, "POST", "/api/team/revocations", `{"device":"` + bravo.DeviceID + `"}`, 404},
		{"revoke another tenant's device by name", e.adminA, "POST", "/api/team/revocations", `{"device":"phone"}`, 404},
		{"admin device", e.adminA, "POST", "/api/team/tokens", `{"subject":"x","role":"admin","device":"d1"}`, 403},
		{"scoped admin enrolling a device", e.scopedAdmin, "POST", "/api/team/tokens", `{"subject":"x","role":"read","device":"d2"}`, 403},
		{"device with paths", e.adminA, "POST", "/api/team/tokens", `{"subject":"x","role":"read","device":"d3","paths":["proj"]}`, 403},
		{"revoke own device by name", e.adminA, "POST", "/api/team/revocations", `{"device":"laptop"}`, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, b := e.do(t, c.token, c.method, c.path, c.body); code != c.want {
				t.Fatalf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, b, c.want)
			}
		})
	}
	e.s.D.Auth().Refresh(context.Background())
	if code, _ := e.do(t, grant.AccessToken, "GET", "/api/list", ""); code != 401 {
		t.Fatalf("revoked device's token: %d", code)
	}
	if code, _ := e.do(t, "", "POST", "/api/token", `{"grant_type":"refresh_token","refresh_token":"`+cred.RefreshToken+`"}`); code == 200 {
		t.Fatal("revoked device redeemed")
	}
}

// TestTeamAuditOfTenantNamedOps: ops actions on ops tokens (listing them, revoking an
// ops subject) concern no tenant, so a tenant that happens to be named "ops" does not
// see them in its audit log, while ops actions on that tenant stay visible to it.
func TestTeamAuditOfTenantNamedOps(t *testing.T) {
	e := newEnv(t)
	s := e.s
	s.Tenant(t, "ops", tenants.Options{})
	admin := s.Token(t, "ops", "lead", auth.RoleAdmin)
	ctx := context.Background()
	opsTok, _, err := s.D.Auth().IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.D.Auth().IssueOpsToken(ctx, "night-shift", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/admin/revocations", `{"ops":true,"subject":"night-shift"}`},
		{"GET", "/admin/tokens?ops=true", ""},
		{"POST", "/admin/tokens", `{"tenant":"ops","subject":"bob","role":"read"}`},
		{"POST", "/admin/revocations", `{"tenant":"ops","subject":"bob"}`},
		{"GET", "/admin/tokens?tenant=ops", ""},
	} {
		if code, b := e.do(t, opsTok, r.method, r.path, r.body); code/100 != 2 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, code, b)
		}
	}
	code, b := e.do(t, admin, "GET", "/api/team/audit", "")
	if code != 200 {
		t.Fatalf("audit: %d %s", code, b)
	}
	var got struct{ Entries []auth.AuditEntry }
	json.Unmarshal(b, &got)
	var seen []string
	for _, en := range got.Entries {
		seen = append(seen, en.Action+" "+en.Target)
	}
	all := strings.Join(seen, "\n")
	if strings.Contains(all, "night-shift") || strings.Count(all, "token.list") != 1 {
		t.Fatalf("tenant ops sees ops-token actions:\n%s", all)
	}
	for _, want := range []string{"token.issue ops/bob", "token.revoke_subject ops/bob", "token.list ops"} {
		if !strings.Contains(all, want) {
			t.Fatalf("tenant ops does not see %q:\n%s", want, all)
		}
	}
}

// TestTeamAuditScopedAdmin: a path-scoped admin's audit log shows no path outside its
// paths (as listings, share lists and every route hide them): share links of files
// outside, and tokens issued for other paths, are left out; its own part stays.
func TestTeamAuditScopedAdmin(t *testing.T) {
	e := newTeamEnv(t)
	e.seed(t)
	out := e.share(t, e.full, `{"path":"secret.txt","expires_in":"1h"}`, 201)
	in := e.share(t, e.full, `{"path":"proj/a/x.txt","expires_in":"1h"}`, 201)
	e.anon(t, "/s/"+out.ID, "")
	e.anon(t, "/s/"+in.ID, "")
	e.share(t, e.full, `{"path":"project/z.txt","expires_in":"1h"}`, 201)
	for _, body := range []string{
		`{"subject":"x","role":"read","paths":["hidden-folder"]}`,
		`{"subject":"y","role":"read","paths":["proj/q"]}`,
	} {
		if code, b := e.do(t, e.adminA, "POST", "/api/team/tokens", body); code != 201 {
			t.Fatalf("issue %s: %d %s", body, code, b)
		}
	}
	code, b := e.do(t, e.scopedAdmin, "GET", "/api/team/audit", "")
	if code != 200 {
		t.Fatalf("audit: %d %s", code, b)
	}
	for _, leak := range []string{"secret.txt", "hidden-folder", "project/z.txt"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("a proj-scoped admin's audit log names %q:\n%s", leak, b)
		}
	}
	for _, want := range []string{"proj/a/x.txt", "paths=proj/q"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("a proj-scoped admin's audit log lacks %q:\n%s", want, b)
		}
	}
	_, b = e.do(t, e.adminA, "GET", "/api/team/audit", "")
	for _, want := range []string{"secret.txt", "hidden-folder", "project/z.txt"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the tenant-wide admin's audit log lacks %q", want)
		}
	}
}
