//go:build unix

package tenants

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// BenchmarkDeltaPut is the server's side of a delta upload of a 256 MiB file (one
// byte flipped in the middle, then flipped back: each op alternates between the two
// contents): Delta.Put from the op stream to the durable commit. It reports the wall
// time and the process's CPU time (user + system) per op. Run with
//
//	go test -run XXX -bench DeltaPut -benchtime 6x ./tenants/
func BenchmarkDeltaPut(b *testing.B) {
	const size = 256 << 20
	e := newEnv(b, Limits{}, Options{})
	ctx := context.Background()
	v := [2][]byte{randomData(21, size)}
	v[1] = bytes.Clone(v[0])
	v[1][size/2] ^= 1
	ops := [2][]byte{deltaOf(b, v[1], v[0]), deltaOf(b, v[0], v[1])} // ops[i] builds v[i]
	hash := [2]string{sum(v[0]), sum(v[1])}
	e.put("big.bin", v[0])
	b.SetBytes(size)
	b.ResetTimer()
	cpu0 := cpuTime()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		next := (i + 1) % 2
		o := PutOptions{IfMatch: hash[1-next], SHA256: hash[next]}
		if _, _, err := NewDelta(e.sp).Put(ctx, "big.bin", bytes.NewReader(ops[next]), o); err != nil {
			b.Fatal(err)
		}
	}
	wall, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N), "wall-ns/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
