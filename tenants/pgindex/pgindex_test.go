package pgindex_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/index/indextest"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

var _ tenants.Index = (*pgindex.Store)(nil)

// database returns the URL of a fresh database with the schema applied.
func database(t testing.TB) string {
	t.Helper()
	url := pgtest.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := pgschema.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return url
}

// open returns a Store on a pool of its own (a "node") on the database at url.
func open(t testing.TB, url string, maxConns int32, o pgindex.Options) *pgindex.Store {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st, err := pgindex.New(context.Background(), pool, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func newStore(t *testing.T) *pgindex.Store { return open(t, database(t), 0, pgindex.Options{}) }

func TestWriterConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T, n int) (index.Writer, []string) {
		st := newStore(t)
		var ids []string
		for i := range n {
			id := fmt.Sprintf("id%d", i)
			if err := st.CreateTenant(context.Background(), index.Tenant{Name: fmt.Sprintf("t%d", i), ID: id}, fmt.Sprintf("epoch%d", i)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return st, ids
	})
}

func TestTenantsConformance(t *testing.T) {
	indextest.RunTenants(t, func(t *testing.T) indextest.Full { return newStore(t) })
}

func TestReadsConformance(t *testing.T) {
	indextest.RunReads(t, func(t *testing.T) indextest.Readable { return newStore(t) })
}

func TestNewRefusesEmptyDatabase(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), pgtest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pgindex.New(context.Background(), pool, pgindex.Options{}); err == nil {
		t.Fatal("New on a database without the schema succeeded")
	}
}
