package auth_test

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	. "github.com/syncspace/syncspace/auth"
)

func enroll(t *testing.T, f *fixture, name, thumb string) (string, DeviceRecord) {
	t.Helper()
	secret, d, err := f.svc.Devices().Enroll(context.Background(), "acme", "alice", RoleWrite, name, thumb)
	if err != nil {
		t.Fatal(err)
	}
	return secret, d
}

func isGrantErr(err error) bool {
	var g *GrantError
	return errors.As(err, &g)
}

func TestDeviceRotation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s1, d := enroll(t, f, "laptop", "")
	g1, err := f.svc.Devices().Redeem(ctx, s1, "192.0.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if g1.RefreshToken == s1 || g1.AccessToken == "" {
		t.Fatal("rotation must return a new secret and an access token")
	}
	p, err := f.svc.Verify(ctx, g1.AccessToken, AudienceTenant)
	if err != nil {
		t.Fatal(err)
	}
	if p.Device != d.ID || p.Subject != "alice" || p.Tenant != "acme" || p.Role != RoleWrite {
		t.Fatalf("principal %+v", p)
	}
	if ttl := time.Until(p.ExpiresAt); ttl > DefaultAccessTTL || ttl < DefaultAccessTTL-time.Minute {
		t.Fatalf("access ttl %s", ttl)
	}
	// The access token was used: the grace of s1 is over, and s1 again is reuse.
	if _, err := f.svc.Devices().Redeem(ctx, s1, "192.0.2.9", nil); !isGrantErr(err) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := f.svc.Verify(ctx, g1.AccessToken, AudienceTenant); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("after reuse the device's token must be revoked: %v", err)
	}
	if _, err := f.svc.Devices().Redeem(ctx, g1.RefreshToken, "192.0.2.1", nil); !isGrantErr(err) {
		t.Fatalf("after reuse the device is revoked: %v", err)
	}
	devs, _ := f.svc.Devices().List(ctx, "acme")
	if len(devs) != 1 || devs[0].RevokedAt == nil || devs[0].LastAddress != "192.0.2.1" || devs[0].LastUsedAt == nil {
		t.Fatalf("devices %+v", devs)
	}
	audit, _ := f.svc.ListAudit(ctx, 0)
	if len(audit) == 0 || audit[len(audit)-1].Action != "device.refresh_reuse" {
		t.Fatalf("reuse not audited: %+v", audit)
	}
}

func TestDeviceGraceAndRace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s1, _ := enroll(t, f, "laptop", "")
	// Racing redemptions of one secret get the same pair.
	const n = 8
	grants := make([]TokenGrant, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); grants[i], errs[i] = f.svc.Devices().Redeem(ctx, s1, "192.0.2.1", nil) }()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if grants[i] != grants[0] {
			t.Fatalf("racing redemptions disagree: %+v vs %+v", grants[i], grants[0])
		}
	}
	// A crash before saving: s1 again within the grace, nothing used yet: same pair.
	g, err := f.svc.Devices().Redeem(ctx, s1, "192.0.2.1", nil)
	if err != nil || g != grants[0] {
		t.Fatalf("grace redemption: %v %+v", err, g)
	}
	// The new secret is used: s1's grace ends; s2's pair works.
	g2, err := f.svc.Devices().Redeem(ctx, g.RefreshToken, "192.0.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Devices().Redeem(ctx, s1, "192.0.2.1", nil); !isGrantErr(err) {
		t.Fatalf("s1 after its successor was used: %v", err)
	}
	if _, err := f.svc.Verify(ctx, g2.AccessToken, AudienceTenant); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("reuse must revoke every token of the device: %v", err)
	}
}

func TestDeviceGraceExpires(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Now()
	SetNow(f.svc, func() time.Time { return now })
	s1, _ := enroll(t, f, "laptop", "")
	if _, err := f.svc.Devices().Redeem(ctx, s1, "a", nil); err != nil {
		t.Fatal(err)
	}
	now = now.Add(RefreshGrace + time.Second)
	if _, err := f.svc.Devices().Redeem(ctx, s1, "a", nil); !isGrantErr(err) {
		t.Fatalf("after the grace, reuse must be refused: %v", err)
	}
	if d, _ := f.svc.Devices().List(ctx, ""); d[0].RevokedAt == nil {
		t.Fatal("reuse after the grace must revoke the device")
	}
}

func TestDeviceSlidingExpiry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Now()
	SetNow(f.svc, func() time.Time { return now })
	s, _ := enroll(t, f, "laptop", "")
	for range 3 { // each use within the TTL slides it
		now = now.Add(DefaultDeviceTTL - time.Hour)
		g, err := f.svc.Devices().Redeem(ctx, s, "a", nil)
		if err != nil {
			t.Fatal(err)
		}
		s = g.RefreshToken
	}
	now = now.Add(DefaultDeviceTTL + time.Second)
	if _, err := f.svc.Devices().Redeem(ctx, s, "a", nil); !isGrantErr(err) {
		t.Fatalf("expired device credential: %v", err)
	}
}

func TestDeviceRevokeAndBinding(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cert := &x509.Certificate{Raw: []byte("a certificate")}
	s, d := enroll(t, f, "phone", Thumbprint(cert.Raw))
	if _, _, err := f.svc.Devices().Enroll(ctx, "acme", "alice", RoleWrite, "phone", ""); err == nil {
		t.Fatal("a second live device of one name must be refused")
	}
	if _, err := f.svc.Devices().Redeem(ctx, s, "a", nil); !isGrantErr(err) {
		t.Fatalf("bound device without its certificate: %v", err)
	}
	if _, err := f.svc.Devices().Redeem(ctx, s, "a", &x509.Certificate{Raw: []byte("other")}); !isGrantErr(err) {
		t.Fatalf("bound device with another certificate: %v", err)
	}
	g, err := f.svc.Devices().Redeem(ctx, s, "a", cert)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Verify(ctx, g.AccessToken, AudienceTenant)
	if err != nil {
		t.Fatal(err)
	}
	if p.CertThumbprint != Thumbprint(cert.Raw) || !p.CertMatches(cert) || p.CertMatches(nil) || p.CertMatches(&x509.Certificate{Raw: []byte("x")}) {
		t.Fatalf("binding: %+v", p)
	}
	if err := f.svc.Devices().Revoke(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, g.AccessToken, AudienceTenant); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("revoked device's token: %v", err)
	}
	if err := f.svc.Devices().Revoke(ctx, "nope"); err == nil {
		t.Fatal("unknown device must be not_found")
	}
}

// Prune drops the secrets no redemption needs any more and keeps what reuse
// detection needs: a secret spent within auth.device_ttl is still recognised (and
// revokes its device when presented again); one spent longer ago is unknown.
func TestDevicePruneKeepsReuseDetection(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Now()
	SetNow(f.svc, func() time.Time { return now })
	dv := f.svc.Devices()
	// Device A: s1 spent long ago (the device kept alive by later redemptions).
	s1, _ := enroll(t, f, "laptop", "")
	g, err := dv.Redeem(ctx, s1, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	sA := g.RefreshToken
	// Device B: revoked; its secrets are refused whatever the store holds.
	sB, dB := enroll(t, f, "phone", "")
	if err := dv.Revoke(ctx, dB.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		now = now.Add(DefaultDeviceTTL/2 + time.Hour)
		if g, err = dv.Redeem(ctx, sA, "a", nil); err != nil {
			t.Fatal(err)
		}
		sA = g.RefreshToken
	}
	// Device C: t1 spent just now.
	t1, _ := enroll(t, f, "desktop", "")
	if _, err := dv.Redeem(ctx, t1, "c", nil); err != nil {
		t.Fatal(err)
	}
	now = now.Add(RefreshGrace + time.Second)
	n, err := dv.Prune(ctx)
	if err != nil || n != 2 { // s1 (spent over device_ttl ago) and B's secret
		t.Fatalf("Prune: %d, %v; want 2", n, err)
	}
	// s1 is unknown now: refused, and device A lives on.
	if _, err := dv.Redeem(ctx, s1, "x", nil); !isGrantErr(err) {
		t.Fatalf("pruned secret: %v", err)
	}
	if _, err := dv.Redeem(ctx, sB, "x", nil); !isGrantErr(err) {
		t.Fatalf("revoked device's pruned secret: %v", err)
	}
	if g, err = dv.Redeem(ctx, sA, "a", nil); err != nil {
		t.Fatalf("device A's current secret after Prune: %v", err)
	}
	// t1 was spent within device_ttl: kept, and its reuse still revokes device C.
	if _, err := dv.Redeem(ctx, t1, "x", nil); !isGrantErr(err) {
		t.Fatalf("reuse after Prune: %v", err)
	}
	devs, _ := dv.List(ctx, "acme")
	for _, d := range devs {
		if (d.RevokedAt != nil) != (d.Name != "laptop") {
			t.Fatalf("after Prune, only the reused and the revoked device are revoked: %+v", devs)
		}
	}
}
