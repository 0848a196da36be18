package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
)

// tenantLookup is an auth.TenantLookup over a fixed set of tenants.
type tenantLookup map[string]string

func (l tenantLookup) LookupTenant(_ context.Context, name string) (string, error) {
	if id, ok := l[name]; ok {
		return id, nil
	}
	return "", protocol.Errorf(protocol.CodeNotFound, "no such tenant")
}

// RunNodes runs two auth Services, as two nodes would, on two stores that share one
// database (newStores returns them, usable until t ends), with one key-encryption key
// and no key directory: a token issued on A verifies on B; revoked on A, it is refused
// on B within a second; a key rotated on A signs on B within a second, and each
// verifies the other's tokens; a key retired on A stops verifying on B within a second. A
// third Service with another key-encryption key is refused.
func RunNodes(t *testing.T, newStores func(t *testing.T) (a, b auth.Store)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kek, err := auth.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := newStores(t)
	tenants := tenantLookup{"acme": "tid-acme"}
	open := func(st auth.Store, kek []byte) (*auth.Service, error) {
		return auth.Open(ctx, st, auth.Config{KEK: kek}, tenants, nil)
	}
	a, err := open(sa, kek)
	if err != nil {
		t.Fatal(err)
	}
	b, err := open(sb, kek)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewKEK()
	if _, err := open(sb, other); err == nil || !strings.Contains(err.Error(), "kek_file") {
		t.Fatalf("a node with another key-encryption key opened: %v", err)
	}
	go a.Run(ctx)
	go b.Run(ctx)
	keys, err := b.ListKeys(ctx)
	if err != nil || len(keys) != 1 || !keys[0].Signing {
		t.Fatalf("B's keys %+v, %v; want A's one key, signing on B too", keys, err)
	}
	nodesRevoke(t, a, b)
	nodesRotate(t, a, b)
}

func issue(t *testing.T, s *auth.Service, subject string) (string, auth.TokenRecord) {
	t.Helper()
	tok, rec, err := s.IssueTenantToken(context.Background(), "acme", subject, auth.RoleWrite, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok, rec
}

func within(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
}

// nodesRevoke: issued on A, verifies on B; revoked on A, refused on B within 1 s.
func nodesRevoke(t *testing.T, a, b *auth.Service) {
	ctx := context.Background()
	tok, rec := issue(t, a, "alice")
	p, err := b.Verify(ctx, tok, auth.AudienceTenant)
	if err != nil {
		t.Fatalf("token issued on A refused on B: %v", err)
	}
	if err := a.RevokeJTI(ctx, rec.JTI); err != nil {
		t.Fatal(err)
	}
	within(t, "revocation on A seen on B", time.Second, func() bool {
		return errors.Is(b.Check(ctx, p), auth.ErrTokenRevoked)
	})
	if _, err := b.Verify(ctx, tok, auth.AudienceTenant); !errors.Is(err, auth.ErrTokenRevoked) {
		t.Fatalf("revoked token verified on B: %v", err)
	}
}

// nodesRotate: a key rotated on A is B's signing key within 1 s, signs tokens B
// verifies, and A verifies B's; the old key retired on A stops verifying on B within 1 s.
func nodesRotate(t *testing.T, a, b *auth.Service) {
	ctx := context.Background()
	old, _ := issue(t, b, "bob")
	oldP, err := a.Verify(ctx, old, auth.AudienceTenant)
	if err != nil {
		t.Fatalf("token issued on B refused on A: %v", err)
	}
	info, err := a.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "rotation on A signing on B", time.Second, func() bool {
		_, rec := issue(t, b, "dave")
		return rec.KeyID == info.KID
	})
	tok, rec := issue(t, a, "carol")
	if rec.KeyID != info.KID {
		t.Fatalf("A signs with %s after rotating to %s", rec.KeyID, info.KID)
	}
	if _, err := b.Verify(ctx, tok, auth.AudienceTenant); err != nil {
		t.Fatalf("token of the key rotated on A refused on B: %v", err)
	}
	tokB, _ := issue(t, b, "erin")
	if _, err := a.Verify(ctx, tokB, auth.AudienceTenant); err != nil {
		t.Fatalf("token B signed with the rotated key refused on A: %v", err)
	}
	keys, err := a.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %+v, %v", keys, err)
	}
	if err := a.RetireKey(ctx, keys[0].KID); err != nil {
		t.Fatal(err)
	}
	within(t, "retirement on A seen on B", time.Second, func() bool {
		return b.Check(ctx, oldP) != nil
	})
	if _, err := b.Verify(ctx, old, auth.AudienceTenant); err == nil {
		t.Fatal("token of a key retired on A still verifies on B")
	}
}
