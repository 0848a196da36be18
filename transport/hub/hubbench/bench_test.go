package hubbench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFanoutSmall checks that the harness itself works (small numbers, always run).
func TestFanoutSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{Subscribers: 20, Events: 50, Window: 16}
	for _, f := range []func(context.Context, Config) (Result, error){RunMinimal, RunHub} {
		r, err := f(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Deliveries != 20*50 || r.PerSecond <= 0 || r.P99 < r.P50 {
			t.Fatalf("%+v", r)
		}
	}
	cfg.Batch, cfg.Tenants = true, 4
	if r, err := RunHub(ctx, cfg); err != nil || r.Deliveries != 50*20/4 {
		t.Fatalf("%+v %v", r, err)
	}
}

// TestFanoutCompare is the fan-out benchmark of issue 4: 1 tenant × 2,000
// subscribers (SYNCSPACE_BENCH_SUBS), ~200-byte events, the syncspace hub (one
// message per frame, and batch) against the minimal gorilla server; then 100 tenants
// × 50 subscribers; then latency with only 2 events in flight. The servers run in
// alternation for SYNCSPACE_BENCH_ROUNDS rounds (default 3) and the median of each
// is reported, which keeps the ratios meaningful on a shared machine. Run with
// SYNCSPACE_BENCH=1 and without -race.
func TestFanoutCompare(t *testing.T) {
	if os.Getenv("SYNCSPACE_BENCH") == "" {
		t.Skip("set SYNCSPACE_BENCH=1")
	}
	subs, rounds := 2000, 3
	if v, err := strconv.Atoi(os.Getenv("SYNCSPACE_BENCH_SUBS")); err == nil {
		subs = v
	}
	if v, err := strconv.Atoi(os.Getenv("SYNCSPACE_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	type runner struct {
		name string
		fn   func(context.Context, Config) (Result, error)
		cfg  Config
		res  []Result
	}
	tp := Config{Subscribers: subs, Events: 500}
	tpBatch := tp
	tpBatch.Batch = true
	multi := Config{Tenants: 100, Subscribers: subs, Events: 500 * 100 / 2}
	if subs == 2000 {
		multi.Subscribers = 100 * 50
	}
	lat := Config{Subscribers: subs, Events: 200, Window: 2}
	latBatch := lat
	latBatch.Batch = true
	runners := []*runner{
		{"minimal gorilla", RunMinimal, tp, nil},
		{"syncspace hub", RunHub, tp, nil},
		{"syncspace hub (batch)", RunHub, tpBatch, nil},
		{"hub 100 tenants x 50", RunHub, multi, nil},
		{"minimal gorilla", RunMinimal, lat, nil},
		{"syncspace hub", RunHub, lat, nil},
		{"syncspace hub (batch)", RunHub, latBatch, nil},
	}
	for r := 0; r < rounds; r++ {
		for _, rn := range runners {
			res, err := rn.fn(ctx, rn.cfg)
			if err != nil {
				t.Fatalf("%s: %v", rn.name, err)
			}
			res.Name = rn.name
			rn.res = append(rn.res, res)
		}
	}
	med := func(rn *runner) Result {
		rs := append([]Result(nil), rn.res...)
		sort.Slice(rs, func(i, j int) bool { return rs[i].PerSecond < rs[j].PerSecond })
		m := rs[len(rs)/2]
		p99 := make([]time.Duration, len(rs))
		for i, r := range rs {
			p99[i] = r.P99
		}
		sort.Slice(p99, func(i, j int) bool { return p99[i] < p99[j] })
		m.P99 = p99[len(p99)/2]
		return m
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "medians of %d rounds; throughput, 128 events in flight per tenant:\n", rounds)
	Compare(&sb, med(runners[0]), med(runners[1]), med(runners[2]))
	Compare(&sb, med(runners[1]), med(runners[3]))
	sb.WriteString("latency, 2 events in flight:\n")
	Compare(&sb, med(runners[4]), med(runners[5]), med(runners[6]))
	t.Log("\n" + sb.String())
}
