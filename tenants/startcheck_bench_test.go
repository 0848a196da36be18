//go:build unix

package tenants

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkStartCheck is the start-up check after a restart (the space's recovery) of
// a tenant with 10,000 indexed files, 100 to a directory: "compared" with no stamps
// (each directory compared with the index, as a first check does, stamps written),
// "stamped" with every directory stamped and unchanged. cpu-ms/op is the process's
// CPU time (user + system) per check. Run with
//
//	go test -run XXX -bench StartCheck ./tenants/
func BenchmarkStartCheck(b *testing.B) {
	for _, stamped := range []bool{false, true} {
		name := "compared"
		if stamped {
			name = "stamped"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, Limits{}, Options{})
			seedIndexed(b, e, 10000, 64)
			e.reopen() // the first check found everything equal: stamped
			b.ResetTimer()
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				var emptied []string
				if !stamped {
					emptied = []string{"tenant_dir_stamps"}
				}
				cpu += timedCheck(b, e, emptied...)
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkFirstIndex is the first indexing of files placed directly on disk: the
// start-up check of a tenant whose index is empty while its disk holds n files of
// 64 bytes, 100 to a directory (every file hashed and committed), on the in-process
// bus a single syncd runs. cpu-us/file is the process's CPU time (user + system) per
// file. Run with
//
//	go test -run XXX -bench FirstIndex ./tenants/
func BenchmarkFirstIndex(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			e := newSingleEnv(b, Limits{}, Options{})
			seedIndexed(b, e, n, 64)
			b.ResetTimer()
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				cpu += timedCheck(b, e, "tenant_entries", "tenant_dir_stamps")
				var got int
				if err := e.db.QueryRow(`SELECT count(*) FROM tenant_entries WHERE is_dir = 0`).Scan(&got); err != nil || got != n {
					b.Fatalf("%d files indexed (%v), want %d", got, err, n)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/float64(n), "cpu-us/file")
		})
	}
}

// timedCheck reopens e's registry with the named tables emptied and returns the CPU
// time of opening the space, i.e. of its start-up check. It leaves the timer stopped.
func timedCheck(b *testing.B, e *env, emptied ...string) time.Duration {
	b.StopTimer()
	e.close()
	e.open()
	for _, t := range emptied {
		if _, err := e.db.Exec(`DELETE FROM ` + t); err != nil {
			b.Fatal(err)
		}
	}
	c0 := cpuTime()
	b.StartTimer()
	e.space()
	b.StopTimer()
	return cpuTime() - c0
}
