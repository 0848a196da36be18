package e2eteams_test

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
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
