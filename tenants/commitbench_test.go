//go:build unix

package tenants

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
)

// BenchmarkPutTenants is syncbench's commits row without HTTP: 32 writers PUT new
// 4 KiB files spread over 100 tenants against the same writers into one tenant, ABBA
// halves. It reports each side's files/s, CPU time per PUT (getrusage of the whole
// process), flushes per PUT and SQL statements per PUT (those the index's batch
// transactions run, BEGIN and COMMIT aside), and the ratio many/one of files/s. Each side's
// goroutines carry the profiler label side=m (many tenants) or side=o (one), so a CPU
// profile splits by side with -tagfocus. Run with
//
//	go test -run XXX -bench PutTenants -benchtime 4000x -cpuprofile cpu.out ./tenants/
//	go tool pprof -tagfocus=side=m -top tenants.test cpu.out
func BenchmarkPutTenants(b *testing.B) {
	const writers, ntenants, size = 32, 100, 4 << 10
	e := newSingleEnv(b, Limits{}, Options{})
	ctx := context.Background()
	spaces := make([]*Space, ntenants)
	for i := range spaces {
		name := fmt.Sprintf("b%03d", i)
		if _, err := e.reg.Create(ctx, name, Options{}); err != nil {
			b.Fatal(err)
		}
		sp, err := e.reg.Space(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		spaces[i] = sp
	}
	type side struct {
		name              string
		space             func(i int) *Space
		t                 time.Duration
		cpu               time.Duration
		syncs             int64
		n                 int
		rounds, reqs, wal int64
		stmts             int64
	}
	// The SQL statements the index's batches run (tenants/sqlite.Store).
	stmts := func() int64 { return 0 }
	if c, ok := e.reg.index.(interface{ BatchStatements() int64 }); ok {
		stmts = c.BatchStatements
	}
	run := func(s *side, from, to int) {
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		c0, f0, t0 := cpuTime(), fsys.SyncCount(), time.Now()
		r0, q0, w0 := fsys.FlushStats()
		st0 := stmts()
		for range writers {
			wg.Go(func() {
				pprof.Do(ctx, pprof.Labels("side", s.name), func(ctx context.Context) {
					data := make([]byte, size)
					for {
						i := int(next.Add(1) - 1)
						if i >= to {
							return
						}
						data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
						if _, _, err := s.space(i).Put(ctx, fmt.Sprintf("%s%06d.bin", s.name, i), bytes.NewReader(data),
							PutOptions{Size: size}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
		wg.Wait()
		s.t += time.Since(t0)
		s.cpu += cpuTime() - c0
		s.syncs += fsys.SyncCount() - f0
		s.n += to - from
		r1, q1, w1 := fsys.FlushStats()
		s.rounds, s.reqs, s.wal = s.rounds+r1-r0, s.reqs+q1-q0, s.wal+w1-w0
		s.stmts += stmts() - st0
	}
	many := &side{name: "m", space: func(i int) *Space { return spaces[i%ntenants] }}
	one := &side{name: "o", space: func(int) *Space { return spaces[0] }}
	half := max(b.N/2, writers)
	b.ResetTimer()
	run(one, 0, half)
	run(many, 0, half)
	run(many, half, 2*half)
	run(one, half, 2*half)
	b.StopTimer()
	for _, s := range []*side{many, one} {
		b.ReportMetric(float64(s.n)/s.t.Seconds(), s.name+"-files/s")
		b.ReportMetric(float64(s.cpu.Microseconds())/float64(s.n), s.name+"-cpu-µs/op")
		b.ReportMetric(float64(s.syncs)/float64(s.n), s.name+"-flushes/op")
		b.ReportMetric(float64(s.rounds)/float64(s.n), s.name+"-rounds/op")
		b.ReportMetric(float64(s.reqs)/float64(max(s.rounds, 1)), s.name+"-reqs/round")
		b.ReportMetric(float64(s.wal)/float64(s.n), s.name+"-wal/op")
		b.ReportMetric(float64(s.stmts)/float64(s.n), s.name+"-stmts/op")
	}
	b.ReportMetric(float64(many.n)/many.t.Seconds()/(float64(one.n)/one.t.Seconds()), "x-files/s")
}
