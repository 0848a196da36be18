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
