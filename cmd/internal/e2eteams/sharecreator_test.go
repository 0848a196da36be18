package e2eteams_test

import (
	"context"
	"testing"

	"github.com/syncspace/syncspace/auth"
)

// TestShareLinkDiesWithItsCreator: a link minted by a token that is revoked later,
// by its jti or with every token of its subject, answers 404 like a revoked link;
// links of other tokens keep working.
func TestShareLinkDiesWithItsCreator(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	ctx := context.Background()
	carol := e.s.Token(t, "acme", "carol", auth.RoleWrite)
	dave := e.s.Token(t, "acme", "dave", auth.RoleWrite)
	byCarol := e.share(t, carol, `{"path":"proj/a/x.txt","expires_in":"1h"}`, 201)
	byDave := e.share(t, dave, `{"path":"proj/a","expires_in":"1h","password":"pw"}`, 201)
	byOwner := e.share(t, e.full, `{"path":"secret.txt","expires_in":"1h"}`, 201)
	open := func(l link, pw string) int {
		resp, _ := e.anon(t, "/s/"+l.ID, pw)
		return resp.StatusCode
	}
	for _, l := range []link{byCarol, byOwner} {
		if code := open(l, ""); code != 200 {
			t.Fatalf("before any revocation: %d", code)
		}
	}
	if code := open(byDave, "pw"); code != 200 {
		t.Fatalf("dave's link before any revocation: %d", code)
	}
	if err := e.s.D.Auth().RevokeJTI(ctx, jtiOf(t, e.s, carol)); err != nil {
		t.Fatal(err)
	}
	if code := open(byCarol, ""); code != 404 {
		t.Fatalf("link of a revoked token: %d, want 404", code)
	}
	if _, err := e.s.D.Auth().RevokeSubject(ctx, "acme", "dave"); err != nil {
		t.Fatal(err)
	}
	// Gone before its password is looked at: the same answer as a revoked link.
	for _, pw := range []string{"pw", "wrong"} {
		if code := open(byDave, pw); code != 404 {
			t.Fatalf("link of a revoked subject (password %q): %d, want 404", pw, code)
		}
	}
	if code := open(byOwner, ""); code != 200 {
		t.Fatalf("link of a live token: %d", code)
	}
}
