package pgdeadline_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants/pgdeadline"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

// pool connects to a fresh database through a stall proxy, each round trip bounded
// by d (0: not bounded at all).
func pool(t testing.TB, d time.Duration) (*pgxpool.Pool, *servicetest.StallProxy) {
	u, err := url.Parse(pgtest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := servicetest.NewStallProxy(t, u.Host)
	u.Host = proxy.Addr()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	if d > 0 {
		pgdeadline.Bound(cfg.ConnConfig, d)
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, proxy
}

// TestBoundGivesUp: with the server stalled, a statement, a transaction's begin and a
// pipeline each fail after the bound with an error that wraps
// context.DeadlineExceeded; after the stall the pool works again.
func TestBoundGivesUp(t *testing.T) {
	ctx := context.Background()
	const d = time.Second
	p, proxy := pool(t, d)
	if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	for name, op := range map[string]func() error{
		"statement": func() error { _, err := p.Exec(ctx, "SELECT 1"); return err },
		"begin": func() error {
			tx, err := p.Begin(ctx)
			if err == nil {
				tx.Rollback(ctx)
			}
			return err
		},
		"row": func() error { var n int; return p.QueryRow(ctx, "SELECT 1").Scan(&n) },
	} {
		start := time.Now()
		err := op()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with the server stalled: %v, want a deadline error", name, err)
		}
		if took := time.Since(start); took > 10*d {
			t.Errorf("%s gave up after %v, bound %v", name, took, d)
		}
	}
	proxy.Resume()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := p.Exec(ctx, "SELECT 1")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stall: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkRoundTrip: one SELECT 1 on the pool, plain and bounded (the tracer's cost:
// a timer per round trip).
func BenchmarkRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name string
		d    time.Duration
	}{{"plain", 0}, {"bounded", pgdeadline.DefaultTimeout}} {
		b.Run(c.name, func(b *testing.B) {
			p, _ := pool(b, c.d)
			ctx := context.Background()
			for b.Loop() {
				if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestUnbounded: a statement longer than the bound fails, unless its context is
// marked Unbounded (a tenant's delete, the change log's pruning).
func TestUnbounded(t *testing.T) {
	ctx := context.Background()
	p, _ := pool(t, 500*time.Millisecond)
	if _, err := p.Exec(ctx, "SELECT pg_sleep(1)"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a bounded statement of 1 s: %v, want a deadline error", err)
	}
	if _, err := p.Exec(pgdeadline.Unbounded(ctx), "SELECT pg_sleep(1)"); err != nil {
		t.Errorf("an unbounded statement of 1 s: %v", err)
	}
}
