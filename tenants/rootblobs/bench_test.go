//go:build unix

package rootblobs

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTempFile is the receive side of a small upload in the store without its
// fsync (which is the kernel's and the same for any writer): create the temp file,
// write 4 KiB, set its time and mode, close it; then remove it, as an upload does
// that changed nothing. It reports the process's CPU (user + system) per file:
//
//	go test -run '^$' -bench TempFile -benchtime 20000x ./tenants/rootblobs/
func BenchmarkTempFile(b *testing.B) {
	_, tn := openT(b)
	data := make([]byte, 4<<10)
	mod := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("up-%d", i)
		f, err := tn.CreateTemp(name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if _, err := f.SetModTime(mod); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		if err := tn.RemoveTemp(name); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
