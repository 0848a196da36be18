package hubbench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// runStats is the process-wide cost of one run, divided by its deliveries.
type runStats struct {
	cpuNS, allocs, bytes, created, scheds float64
}

func (s runStats) String() string {
	return fmt.Sprintf("cpu %6.0f ns  allocs %5.2f  bytes %6.0f  goroutines created %5.3f  wake-ups %5.2f  (per delivery)",
		s.cpuNS, s.allocs, s.bytes, s.created, s.scheds)
}

var statNames = []string{"/gc/heap/allocs:objects", "/gc/heap/allocs:bytes", "/sched/goroutines-created:goroutines", "/sched/latencies:seconds"}

func sample() (cpu time.Duration, v [4]float64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s := make([]metrics.Sample, len(statNames))
	for i, n := range statNames {
		s[i].Name = n
	}
	metrics.Read(s)
	for i := range s {
		switch s[i].Value.Kind() {
		case metrics.KindUint64:
			v[i] = float64(s[i].Value.Uint64())
		case metrics.KindFloat64Histogram:
			var n uint64
			for _, c := range s[i].Value.Float64Histogram().Counts {
				n += c
			}
			v[i] = float64(n)
		}
	}
	return cpu, v
}

// TestFanoutStats measures each server's process-wide CPU time, heap allocations,
// goroutine creations and scheduler wake-ups per delivered event (the subscribers'
// clients run in the same process and cost the same for both servers, so the
// difference is the servers'). CPU per delivery is far less sensitive to a loaded
// machine than the delivered rate. SYNCSPACE_BENCH=1; SYNCSPACE_BENCH_ROUNDS (3),
// SYNCSPACE_BENCH_SUBS (2000), SYNCSPACE_BENCH_WINDOW (128), SYNCSPACE_BENCH_ONLY
// (one server's name).
func TestFanoutStats(t *testing.T) {
	if os.Getenv("SYNCSPACE_BENCH") == "" {
		t.Skip("set SYNCSPACE_BENCH=1")
	}
	subs, rounds, window := 2000, 3, 128
	if v, err := strconv.Atoi(os.Getenv("SYNCSPACE_BENCH_SUBS")); err == nil {
		subs = v
	}
	if v, err := strconv.Atoi(os.Getenv("SYNCSPACE_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := strconv.Atoi(os.Getenv("SYNCSPACE_BENCH_WINDOW")); err == nil && v > 0 {
		window = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cfg := Config{Subscribers: subs, Events: 500, Window: window}
	batch := cfg
	batch.Batch = true
	type runner struct {
		name string
		fn   func(context.Context, Config) (Result, error)
		cfg  Config
	}
	for r := 0; r < rounds; r++ {
		for _, rn := range []runner{{"minimal gorilla", RunMinimal, cfg}, {"syncspace hub", RunHub, cfg}, {"syncspace hub (batch)", RunHub, batch}} {
			if only := os.Getenv("SYNCSPACE_BENCH_ONLY"); only != "" && rn.name != only {
				continue
			}
			var c0, c1 time.Duration
			var v0, v1 [4]float64
			measureHook = func(start bool) {
				if start {
					runtime.GC()
					c0, v0 = sample()
				} else {
					c1, v1 = sample()
				}
			}
			res, err := rn.fn(ctx, rn.cfg)
			measureHook = nil
			if err != nil {
				t.Fatal(err)
			}
			d := float64(res.Deliveries)
			st := runStats{float64(c1-c0) / d, (v1[0] - v0[0]) / d, (v1[1] - v0[1]) / d, (v1[2] - v0[2]) / d, (v1[3] - v0[3]) / d}
			var la string
			if b, err := os.ReadFile("/proc/loadavg"); err == nil {
				la = string(b[:14])
			}
			t.Logf("%-22s %8.0f ev/s p50 %7s p99 %7s | %s | load %s", rn.name, res.PerSecond,
				res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), st, la)
		}
	}
}
