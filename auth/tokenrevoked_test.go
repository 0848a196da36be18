package auth_test

import (
	"context"
	"testing"
	"time"

	. "github.com/syncspace/syncspace/auth"
)

// TestTokenRevoked: what share links ask about their creator by jti. A revoked jti
// (alone, or with its subject) and an unrecorded one are revoked; an expired one is
// not.
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
		if at, err := f.svc.ShareCreatorRevokedAt(ctx, jti, "acme", live.TenantID, "alice", now); err != nil || (at != nil) != want {
			t.Errorf("ShareCreatorRevokedAt(%s) = %v, %v; want revoked %v", jti, at, err, want)
		}
	}
}

// TestShareCreatorRevokedAt: a link's creator by jti (revoked at its revocation, an
// unrecorded one at the link's making), and for a link made before session 25 (no
// jti) by the write tokens its subject held in that tenant when it was made: live
// while one of them is live, revoked once all are; a read token, or a token issued
// after the link or expired before it, never made it.
func TestShareCreatorRevokedAt(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, a1 := mustIssue(t, f.svc, "acme", "alice", RoleWrite)
	_, a2 := mustIssue(t, f.svc, "acme", "alice", RoleAdmin)
	_, reader := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	made := a2.IssuedAt.Add(time.Minute)
	revokedAt := func(jti string) *time.Time {
		t.Helper()
		at, err := f.svc.ShareCreatorRevokedAt(ctx, jti, "acme", a1.TenantID, "alice", made)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	if at := revokedAt(a1.JTI); at != nil {
		t.Fatalf("live jti: revoked at %v", at)
	}
	if at := revokedAt("never-issued"); at == nil || !at.Equal(made) {
		t.Fatalf("unrecorded jti: revoked at %v, want %v", at, made)
	}
	if err := f.svc.RevokeJTI(ctx, a1.JTI); err != nil {
		t.Fatal(err)
	}
	if at := revokedAt(a1.JTI); at == nil {
		t.Fatal("revoked jti: not revoked")
	}
	if at := revokedAt(""); at != nil {
		t.Fatalf("legacy link with one of two creators live: revoked at %v", at)
	}
	if err := f.svc.RevokeJTI(ctx, a2.JTI); err != nil {
		t.Fatal(err)
	}
	if at := revokedAt(""); at == nil || at.Before(made) {
		t.Fatalf("legacy link, every possible creator revoked: %v (read token %s live)", at, reader.JTI)
	}
	// Another tenant's or another subject's links, and links made long before
	// alice's tokens: none of her tokens made them.
	for _, c := range []struct {
		tenant, tid, sub string
		made             time.Time
	}{{"acme", "other-tid", "alice", made}, {"beta", a1.TenantID, "alice", made}, {"acme", a1.TenantID, "bob", made},
		{"acme", a1.TenantID, "alice", made.Add(-time.Hour)}, {"acme", a1.TenantID, "alice", made.Add(2 * time.Hour)}} {
		if at, err := f.svc.ShareCreatorRevokedAt(ctx, "", c.tenant, c.tid, c.sub, c.made); err != nil || at == nil {
			t.Errorf("legacy link of %s (%s)/%s at %v with no possible creator: %v %v", c.tenant, c.tid, c.sub, c.made, at, err)
		}
	}
}
