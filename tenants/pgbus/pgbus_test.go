package pgbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/internal/bustest"
	"github.com/syncspace/syncspace/tenants/pgbus"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

func TestBus(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bustest.Cluster {
		url := pgtest.Postgres(t) // NOTIFY is per database: the test's own
		return bustest.Cluster{
			Node: func(t *testing.T) tenants.Bus {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				b, err := pgbus.New(ctx, url, pgbus.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			},
			KillSubscribers: func(t *testing.T) { killListeners(t, url) },
			Cut:             func(t *testing.T) func() { return cutListeners(t, url) },
		}
	})
}

// killListeners ends the database's connections whose last statement was LISTEN.
func killListeners(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen %'`).Scan(&killed)
	if err != nil || killed == 0 {
		t.Fatalf("terminated %d listening backends (%v)", killed, err)
	}
}

// cutListeners refuses new connections to the test's database (ALLOW_CONNECTIONS
// false, which binds superusers too) and ends its listening connections; the returned
// function allows connections again. Connections already in pools keep working.
func cutListeners(t *testing.T, url string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := cfg.Database
	// A database cannot refuse its own session: administer from the maintenance one.
	admin, err := pgx.Connect(ctx, servicetest.PostgresServer(t))
	if err != nil {
		t.Fatal(err)
	}
	allow := func(on bool) error {
		_, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, pgx.Identifier{db}.Sanitize(), on))
		return err
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if err := allow(true); err != nil {
				t.Error(err)
			}
			admin.Close(ctx)
		})
	}
	t.Cleanup(restore)
	if err := allow(false); err != nil {
		t.Fatal(err)
	}
	var killed int
	err = admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND query ILIKE 'listen %'`, db).Scan(&killed)
	if err != nil || killed == 0 {
		t.Fatalf("terminated %d listening backends (%v)", killed, err)
	}
	return restore
}

func TestNewRefusesNoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := pgbus.New(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", pgbus.Options{}); err == nil {
		t.Error("New succeeded with no server")
	}
}
