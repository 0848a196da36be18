// Package pgtest gives a test a fresh PostgreSQL database on the server that
// .ci/services starts (config/servicetest), dropped when the test ends. It skips (or,
// with SYNCSPACE_TEST_SERVICES_REQUIRED=1, fails) when no server is configured.
package pgtest

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/config/servicetest"
)

// Postgres creates an empty database named after a random suffix and returns its URL;
// the database is dropped (its connections ended) at cleanup.
func Postgres(t testing.TB) string {
	t.Helper()
	server := servicetest.PostgresServer(t)
	name := "syncspace_test_" + servicetest.Name(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", servicetest.EnvPostgres, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", servicetest.EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}
