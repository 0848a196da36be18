package auth_test

import (
	"context"
	"testing"

	. "github.com/syncspace/syncspace/auth"
)

// BenchmarkVerifyCached is Verify of a cached tenant token (the cache's key, Check:
// expiry, revocation, key, tenant; the principal's copy), from every P at once as
// the server's requests are, with the process's CPU time per call as cpu-ns/op.
func BenchmarkVerifyCached(b *testing.B) {
	f := newFixture(b)
	tok, _ := mustIssue(b, f.svc, "acme", "alice", RoleRead)
	ctx := context.Background()
	if _, err := f.svc.Verify(ctx, tok, AudienceTenant); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	c0 := cpuNow(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.svc.Verify(ctx, tok, AudienceTenant); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuNow(b)-c0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkRedeem is one redemption of a device's refresh secret after another (POST
// /api/token without HTTP): the secret's record, the device, the access token signed
// and recorded, the rotation's transaction, on a real SQLite file.
func BenchmarkRedeem(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	secret, _, err := f.svc.Devices().Enroll(ctx, "acme", "alice", RoleWrite, "laptop", "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		g, err := f.svc.Devices().Redeem(ctx, secret, "192.0.2.1", nil)
		if err != nil {
			b.Fatal(err)
		}
		secret = g.RefreshToken
	}
}
