package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// BenchmarkWriteTenants is the SQL half of the commits row: 32 writers each commit
// one new file (a change-log row and an entry) per Write, spread over 100 tenants
// against all into one tenant, in ABBA halves. It reports the CPU time per write
// (getrusage of the process), the writes per transaction and the statements per
// write (BEGIN and COMMIT aside) of each side; each side's goroutines carry the
// profiler label side=m or side=o. A third side, d, writes into one tenant spread
// over 100 directories, as many pages a batch as the 100 tenants touch: the control
// that tells the cost of tenancy from that of rows spread over the B-trees
// (docs/BENCHMARKS.md, "Commits: session 22"):
//
//	go test -run XXX -bench WriteTenants -benchtime 8000x ./tenants/sqlite/
func BenchmarkWriteTenants(b *testing.B) {
	const writers, ntenants = 32, 100
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "syncd.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	st, err := sqlite.NewStore(ctx, db, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	ids := make([]string, ntenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("8f0c6a1e-0000-4000-8000-%012d", i)
		if err := st.CreateTenant(ctx, index.Tenant{Name: fmt.Sprintf("t%03d", i), ID: ids[i]}, "epoch"); err != nil {
			b.Fatal(err)
		}
	}
	type side struct {
		name   string
		tenant func(i int) string
		path   func(i int) string
		cpu, t time.Duration
		n, txs int64
		stmts  int64
	}
	run := func(s *side, from, to int) {
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		c0, b0, s0, t0 := cpu(), st.Batches(), st.BatchStatements(), time.Now()
		for range writers {
			wg.Go(func() {
				pprof.Do(ctx, pprof.Labels("side", s.name), func(ctx context.Context) {
					for {
						i := int(next.Add(1) - 1)
						if i >= to {
							return
						}
						m := protocol.Metadata{Path: s.path(i), Size: 4096,
							Hash: fmt.Sprintf("%064x", i), Modified: time.Unix(int64(i), 0)}
						if err := st.Write(ctx, s.tenant(i), index.WriteOptions{}, func(tx index.Tx) error {
							_, seq := tx.Head()
							m.Seq = seq + 1
							ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: m.Seq,
								Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
							if err := tx.Append(ev, 0, time.Now()); err != nil {
								return err
							}
							return tx.PutEntry(m)
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
		wg.Wait()
		s.t += time.Since(t0)
		s.cpu += cpu() - c0
		s.txs += st.Batches() - b0
		s.stmts += st.BatchStatements() - s0
		s.n += int64(to - from)
	}
	inDir := func(name string) func(i int) string {
		return func(i int) string { return fmt.Sprintf("dir/%s%07d.bin", name, i) }
	}
	many := &side{name: "m", tenant: func(i int) string { return ids[i%ntenants] }, path: inDir("m")}
	one := &side{name: "o", tenant: func(int) string { return ids[0] }, path: inDir("o")}
	dirs := &side{name: "d", tenant: func(int) string { return ids[1] }, path: func(i int) string {
		return fmt.Sprintf("d%02d/d%07d.bin", i%ntenants, i)
	}}
	half := max(b.N/2, writers)
	b.ResetTimer()
	for _, p := range []struct {
		s        *side
		from, to int
	}{{one, 0, half}, {many, 0, half}, {dirs, 0, half}, {dirs, half, 2 * half}, {many, half, 2 * half}, {one, half, 2 * half}} {
		run(p.s, p.from, p.to)
	}
	b.StopTimer()
	for _, s := range []*side{many, one, dirs} {
		b.ReportMetric(float64(s.cpu.Microseconds())/float64(s.n), s.name+"-cpu-µs/op")
		b.ReportMetric(float64(s.n)/float64(s.txs), s.name+"-writes/tx")
		b.ReportMetric(float64(s.n)/s.t.Seconds(), s.name+"-writes/s")
		b.ReportMetric(float64(s.stmts)/float64(s.n), s.name+"-stmts/op")
	}
}

// BenchmarkWriteSerial is the SQL half of a lone writer's uploads: one writer commits
// a number of new files (a change-log row and an entry each) per Write, one Write a
// transaction, as a serial upload (files=1) or one tenant's group commit of five
// uploads (files=5) does. It reports the CPU time per file (getrusage of the process):
//
//	go test -run XXX -bench WriteSerial -benchtime 10000x ./tenants/sqlite/
func BenchmarkWriteSerial(b *testing.B) {
	for _, files := range []int{1, 5} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) { benchWriteSerial(b, files) })
	}
}

func benchWriteSerial(b *testing.B, files int) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "syncd.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	st, err := sqlite.NewStore(ctx, db, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	const id = "8f0c6a1e-0000-4000-8000-000000000001"
	if err := st.CreateTenant(ctx, index.Tenant{Name: "t", ID: id}, "epoch"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := cpu()
	for i := range b.N {
		if err := st.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
			for j := range files {
				_, seq := tx.Head()
				m := protocol.Metadata{Path: fmt.Sprintf("dir/f%07d-%d.bin", i, j), Size: 4096,
					Hash: fmt.Sprintf("%064x", i), Modified: time.Unix(int64(i), 0), Seq: seq + 1}
				ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: m.Seq,
					Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
				if err := tx.Append(ev, 0, time.Now()); err != nil {
					return err
				}
				if err := tx.PutEntry(m); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpu()-c0).Microseconds())/float64(b.N*files), "cpu-µs/file")
}
