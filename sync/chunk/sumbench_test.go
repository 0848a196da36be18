//go:build unix

package chunk

import (
	"bytes"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSumEdited is the client's read of a file with one byte changed since the
// version it last synced: "all" hashes every chunk, "known" is given the last
// version's chunks and Prints (only the changed chunk is hashed per chunk). CPU time
// of the whole process (the Sum's three goroutines) per op is reported beside the
// wall time. Run with
//
//	go test -run XXX -bench SumEdited -benchtime 10x ./sync/chunk/
func BenchmarkSumEdited(b *testing.B) {
	base := randomBytes(43, 64<<20)
	s := NewSum()
	s.Write(base)
	_, l := s.Finish()
	known := NewKnown(l, s.Prints())
	data := bytes.Clone(base)
	data[len(data)/2] ^= 1
	for _, tc := range []struct {
		name  string
		known *Known
	}{{"all", nil}, {"known", known}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			cpu0 := cpuTime()
			for b.Loop() {
				s := NewSumFunc(tc.known, nil)
				s.ReadFrom(bytes.NewReader(data))
				s.Finish()
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
