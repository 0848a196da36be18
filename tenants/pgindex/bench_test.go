package pgindex_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/pgindex"
)

// benchWriters is how many goroutines write at once (per core: SetParallelism).
const benchWriters = 8

// benchStore opens a store on a fresh database with tenants "0" … tenants-1.
func benchStore(b *testing.B, tenants int) *pgindex.Store {
	b.Helper()
	st := open(b, database(b), 2*benchWriters, pgindex.Options{})
	for i := range tenants {
		if err := st.CreateTenant(context.Background(), index.Tenant{Name: fmt.Sprint(i), ID: fmt.Sprint(i)}, "e"); err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// BenchmarkCommit measures Write commits per second on one hot tenant and spread over
// 64, with 1 and 10 changes (an Append and a PutEntry each) per commit.
func BenchmarkCommit(b *testing.B) {
	for _, tenants := range []int{1, 64} {
		for _, changes := range []int{1, 10} {
			b.Run(fmt.Sprintf("tenants=%d/changes=%d", tenants, changes), func(b *testing.B) {
				st := benchStore(b, tenants)
				var n atomic.Int64
				b.SetParallelism(benchWriters)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					names := make([]string, changes)
					for pb.Next() {
						i := n.Add(1)
						for j := range names {
							names[j] = fmt.Sprintf("d/f%d-%d", i, j)
						}
						if _, err := commitFiles(context.Background(), st, fmt.Sprint(i%int64(tenants)), 1, names...); err != nil {
							b.Error(err)
							return
						}
					}
				})
				perSec := float64(b.N) / time.Since(start).Seconds()
				b.ReportMetric(perSec, "commits/s")
				b.ReportMetric(perSec*float64(changes), "events/s")
			})
		}
	}
}

// BenchmarkRaw is the floor under BenchmarkCommit, measured the same way on the same
// server: "insert" commits one row per transaction (pgbench's simplest write);
// "head" is the least a gapless log needs (move a head row and insert the change row
// in one transaction, sent in one pipeline: one round trip, where Write needs two).
func BenchmarkRaw(b *testing.B) {
	for _, tenants := range []int{1, 64} {
		for _, kind := range []string{"insert", "head"} {
			b.Run(fmt.Sprintf("tenants=%d/%s", tenants, kind), func(b *testing.B) {
				url := database(b)
				cfg, err := pgxpool.ParseConfig(url)
				if err != nil {
					b.Fatal(err)
				}
				cfg.MaxConns = 2 * benchWriters
				pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer pool.Close()
				ctx := context.Background()
				if _, err := pool.Exec(ctx, `CREATE TABLE raw_heads (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL);
					CREATE TABLE raw_log (id BIGINT, seq BIGINT, path TEXT, PRIMARY KEY (id, seq));
					INSERT INTO raw_heads SELECT g, 0 FROM generate_series(0, 63) g`); err != nil {
					b.Fatal(err)
				}
				var n atomic.Int64
				b.SetParallelism(benchWriters)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						if err := rawCommit(ctx, pool, kind, i%int64(tenants), i); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
			})
		}
	}
}

func rawCommit(ctx context.Context, pool *pgxpool.Pool, kind string, tenant, i int64) error {
	if kind == "insert" {
		_, err := pool.Exec(ctx, `INSERT INTO raw_log (id, seq, path) VALUES ($1, $2, $3)`, tenant, i, "f")
		return err
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`WITH h AS (UPDATE raw_heads SET seq = seq + 1 WHERE id = $1 RETURNING id, seq)
		INSERT INTO raw_log (id, seq, path) SELECT id, seq, 'f' FROM h`, tenant)
	b.Queue("COMMIT")
	return pool.SendBatch(ctx, b).Close()
}

// BenchmarkCommitExpect is BenchmarkCommit with 10 new files per commit, without and
// with the expectation the domain sends with each (index.ExpectTx.ExpectEntry: the
// path still free, its parent a directory), to price the expectations.
func BenchmarkCommitExpect(b *testing.B) {
	for _, tenants := range []int{1, 64} {
		for _, expect := range []bool{false, true} {
			b.Run(fmt.Sprintf("tenants=%d/expect=%v", tenants, expect), func(b *testing.B) {
				st := benchStore(b, tenants)
				var n atomic.Int64
				b.SetParallelism(benchWriters)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						err := st.Write(context.Background(), fmt.Sprint(i%int64(tenants)), index.WriteOptions{}, func(tx index.Tx) error {
							for j := range 10 {
								name := fmt.Sprintf("f%d-%d", i, j)
								if expect {
									if err := tx.(index.ExpectTx).ExpectEntry(name, nil); err != nil {
										return err
									}
								}
								if _, err := commitFilesTx(tx, name); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
			})
		}
	}
}
