package pgshare_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth/share"
	"github.com/syncspace/syncspace/auth/share/pgshare"
	"github.com/syncspace/syncspace/auth/share/sharetest"
	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

func TestStore(t *testing.T) {
	sharetest.Run(t, func(t *testing.T) share.Store {
		pool, err := pgxpool.New(context.Background(), pgtest.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		conn, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		if err := pgschema.Apply(context.Background(), conn.Conn()); err != nil {
			t.Fatal(err)
		}
		st, err := pgshare.New(pool)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
