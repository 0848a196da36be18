package e2eteams_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
	"github.com/syncspace/syncspace/tenants"
)

// TestTeamAuditPastOtherTenants: a tenant admin reads its own tenant's audit entries
// however many entries other tenants added since (a busy tenant's share links are
// audited at every use): the answer holds its newest entries up to ?limit, not only
// those among the log's newest 10000 of every tenant.
func TestTeamAuditPastOtherTenants(t *testing.T) {
	e := newEnv(t)
	e.s.Tenant(t, "busy", tenants.Options{})
	admin := e.s.Token(t, "acme", "alice", auth.RoleAdmin)
	if code, b := e.do(t, admin, "POST", "/api/team/tokens", `{"subject":"carol","role":"read"}`); code != 201 {
		t.Fatalf("issue: %d %s", code, b)
	}
	floodAudit(t, filepath.Join(e.s.DataDir, "syncd.db"), "share:busy:0123456789abcdef", 10001)
	code, b := e.do(t, admin, "GET", "/api/team/audit?limit=5", "")
	var got struct{ Entries []auth.AuditEntry }
	if err := json.Unmarshal(b, &got); code != 200 || err != nil {
		t.Fatalf("audit: %d %s", code, b)
	}
	var seen []string
	for _, en := range got.Entries {
		if !strings.HasPrefix(en.Actor, "tenant:acme:") {
			t.Fatalf("another tenant's entry: %+v", en)
		}
		seen = append(seen, en.Action+" "+en.Target)
	}
	if len(seen) == 0 || !strings.HasPrefix(seen[0], "team.token.issue carol role=read") {
		t.Fatalf("acme's audit after another tenant's 10001 entries: %q; want its token.issue first", seen)
	}
}

// floodAudit appends n entries of actor to the audit log of a running syncd's
// database, in one statement.
func floodAudit(t *testing.T, dbPath, actor string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO auth_audit(time, actor, jti, address, action, target, outcome)
		SELECT ? + i, ?, '', '192.0.2.1', 'share.open', 'docs', 'ok' FROM n`, n, time.Now().UnixNano(), actor)
	if err != nil {
		t.Fatal(err)
	}
}

// TestTeamAuditSeesOpsRevocations: ops revoking one of the tenant's tokens by jti or
// one of its devices by id (the admin API, and syncctl on the data dir) is an ops
// action on the tenant: its admin reads it in GET /api/team/audit, with the subject.
func TestTeamAuditSeesOpsRevocations(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.s.Token(t, "acme", "alice", auth.RoleAdmin)
	ops, _, err := e.s.D.Auth().IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	byAPI, byCtl := jtiOf(t, e.s, e.s.Token(t, "acme", "bob", auth.RoleRead)), jtiOf(t, e.s, e.s.Token(t, "acme", "carol", auth.RoleRead))
	_, dev, err := e.s.D.Auth().Devices().Enroll(ctx, "acme", "dan", auth.RoleWrite, "laptop", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/admin/tokens/" + byAPI, "/admin/devices/" + dev.ID} {
		if code, b := e.do(t, ops, "DELETE", p, ""); code != 200 {
			t.Fatalf("DELETE %s: %d %s", p, code, b)
		}
	}
	var out, errb bytes.Buffer
	if code := ctl.Run(ctx, []string{"--data", e.s.DataDir, "token", "revoke", byCtl}, &out, &errb); code != 0 {
		t.Fatalf("syncctl token revoke: %d %s", code, errb.String())
	}
	code, b := e.do(t, admin, "GET", "/api/team/audit", "")
	var got struct{ Entries []auth.AuditEntry }
	if err := json.Unmarshal(b, &got); code != 200 || err != nil {
		t.Fatalf("audit: %d %s", code, b)
	}
	var seen []string
	for _, en := range got.Entries {
		seen = append(seen, en.Action+" "+en.Target)
	}
	all := strings.Join(seen, "\n")
	for _, want := range []string{"token.revoke acme/bob jti=" + byAPI, "token.revoke acme/carol jti=" + byCtl, "device.revoke acme/dan/laptop id=" + dev.ID} {
		if !strings.Contains(all, want) {
			t.Errorf("acme's audit lacks %q:\n%s", want, all)
		}
	}
}
