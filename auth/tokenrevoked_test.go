package auth_test

import (
	"context"
	"testing"
	"time"

	. "github.com/syncspace/syncspace/auth"
)

// TestTokenRevoked: what share links ask about their creator. A revoked jti (alone,
// or with its subject) and an unrecorded one are revoked; an expired one is not.
func TestTokenRevoked(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Now()
	SetNow(f.svc, func() time.Time { return now })
	_, live := mustIssue(t, f.svc, "acme", "alice", RoleWrite)
	_, byJTI := mustIssue(t, f.svc, "acme", "alice", RoleWrite)
	_, bySubject := mustIssue(t, f.svc, "acme", "bob", RoleWrite)
	if err := f.svc.RevokeJTI(ctx, byJTI.JTI); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RevokeSubject(ctx, "acme", "bob"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour) // every token above has expired
	for jti, want := range map[string]bool{live.JTI: false, byJTI.JTI: true, bySubject.JTI: true, "never-issued": true} {
		if got, err := f.svc.TokenRevoked(ctx, jti); err != nil || got != want {
			t.Errorf("TokenRevoked(%s) = %v, %v; want %v", jti, got, err, want)
		}
	}
}
