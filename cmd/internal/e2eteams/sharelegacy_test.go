package e2eteams_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/syncspace/syncspace/auth"
)

// listedShare is one link of GET /api/shares.
type listedShare struct {
	Key            string     `json:"key"`
	RevokedAt      *time.Time `json:"revoked_at"`
	CreatorRevoked bool       `json:"creator_revoked"`
}

// listedRevoked returns, by key, whether GET /api/shares lists each link as revoked.
func (e *env) listedRevoked(t *testing.T) map[string]bool {
	t.Helper()
	code, b := e.do(t, e.full, "GET", "/api/shares", "")
	var ans struct{ Shares []listedShare }
	if err := json.Unmarshal(b, &ans); code != 200 || err != nil {
		t.Fatalf("GET /api/shares: %d %s", code, b)
	}
	out := map[string]bool{}
	for _, s := range ans.Shares {
		out[s.Key] = s.RevokedAt != nil
	}
	return out
}

// TestShareListShowsCreatorRevoked: a link whose creating token is revoked answers
// 404, and GET /api/shares lists it as revoked (revoked_at, creator_revoked), not as
// a live link; the other links stay listed live.
func TestShareListShowsCreatorRevoked(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	carol := e.s.Token(t, "acme", "carol", auth.RoleWrite)
	byCarol := e.share(t, carol, `{"path":"proj/a/x.txt","expires_in":"1h"}`, 201)
	byOwner := e.share(t, e.full, `{"path":"secret.txt","expires_in":"1h"}`, 201)
	if err := e.s.D.Auth().RevokeJTI(context.Background(), jtiOf(t, e.s, carol)); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.anon(t, "/s/"+byCarol.ID, ""); resp.StatusCode != 404 {
		t.Fatalf("link of a revoked token: %d", resp.StatusCode)
	}
	got := e.listedRevoked(t)
	if !got[byCarol.Key] || got[byOwner.Key] {
		t.Fatalf("listed revoked: carol's %v (want true), owner's %v (want false)", got[byCarol.Key], got[byOwner.Key])
	}
}

// TestShareLegacyLinkDiesWithItsSubject opens a data dir whose auth_shares table
// predates the creator_jti column (session 25): such a link lives while its
// subject holds a live write token that could have made it, and dies (404, listed
// revoked) once every such token is revoked.
func TestShareLegacyLinkDiesWithItsSubject(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	ctx := context.Background()
	bob1 := e.s.Token(t, "acme", "bob", auth.RoleWrite)
	e.s.Token(t, "acme", "bob", auth.RoleWrite) // a second token that could have made the link
	old := e.share(t, bob1, `{"path":"proj/a","expires_in":"1h"}`, 201)
	if err := e.s.Stop(); err != nil {
		t.Fatal(err)
	}
	dropCreatorJTI(t, filepath.Join(e.s.DataDir, "syncd.db"))
	if err := e.s.Restart(ctx, ""); err != nil {
		t.Fatal(err)
	}
	open := func() int {
		resp, _ := e.anon(t, "/s/"+old.ID, "")
		return resp.StatusCode
	}
	if code := open(); code != 200 {
		t.Fatalf("legacy link after the upgrade: %d", code)
	}
	if err := e.s.D.Auth().RevokeJTI(ctx, jtiOf(t, e.s, bob1)); err != nil {
		t.Fatal(err)
	}
	if code := open(); code != 200 { // bob2 may have made it
		t.Fatalf("legacy link, one of its possible creators left: %d", code)
	}
	if _, err := e.s.D.Auth().RevokeSubject(ctx, "acme", "bob"); err != nil {
		t.Fatal(err)
	}
	if code := open(); code != 404 {
		t.Fatalf("legacy link of a revoked subject: %d, want 404", code)
	}
	if !e.listedRevoked(t)[old.Key] {
		t.Fatal("legacy link of a revoked subject listed live")
	}
}

// dropCreatorJTI turns the auth_shares table of a stopped syncd's database back into
// its form before session 25 (no creator_jti column).
func dropCreatorJTI(t *testing.T, dbPath string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE auth_shares DROP COLUMN creator_jti`); err != nil {
		t.Fatal(err)
	}
}
