package pgleader

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOneLeader: of two nodes one leads; when its connection is killed the other
// takes over, and the first comes back as a follower; Close hands the lock over.
func TestOneLeader(t *testing.T) {
	url := pgtest.Postgres(t)
	ctx := context.Background()
	o := Options{Key: rand.Int64(), Interval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	a := Start(ctx, url, o)
	defer a.Close()
	b := Start(ctx, url, o)
	defer b.Close()
	if !a.Leading() || b.Leading() {
		t.Fatalf("leading: a %v, b %v; want a only", a.Leading(), b.Leading())
	}
	killLockConn(ctx, t, url, a) // from outside
	waitFor(t, 15*time.Second, "b leads after a's connection died", func() bool { return b.Leading() && !a.Leading() })
	time.Sleep(200 * time.Millisecond) // a reconnects, and follows
	if a.Leading() {
		t.Fatal("two leaders")
	}
	b.Close()
	waitFor(t, 15*time.Second, "a leads after b closed", a.Leading)
}

// TestConfirmAfterLockLost: right after the leader's lock connection is killed, and
// long before its next check, Leading still says true but Confirm says false and
// ends the leadership; the node that takes the lock over confirms it.
func TestConfirmAfterLockLost(t *testing.T) {
	url := pgtest.Postgres(t)
	ctx := context.Background()
	o := Options{Key: rand.Int64(), Interval: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	a := Start(ctx, url, o)
	defer a.Close()
	if !a.Leading() || !a.Confirm(ctx) {
		t.Fatalf("a: leading %v, want it to lead and confirm", a.Leading())
	}
	killLockConn(ctx, t, url, a)
	ob := o
	ob.Interval = 50 * time.Millisecond // tries again until the dead session's lock is gone
	b := Start(ctx, url, ob)
	defer b.Close()
	waitFor(t, 15*time.Second, "b leads", b.Leading)
	if !a.Leading() {
		t.Fatal("a noticed the loss by itself: the test shows nothing (its interval is an hour)")
	}
	if a.Confirm(ctx) {
		t.Fatal("a confirmed a lock that b holds")
	}
	if a.Leading() {
		t.Fatal("a still leading after a failed Confirm")
	}
	if !b.Confirm(ctx) {
		t.Fatal("b does not confirm its lock")
	}
}

// killLockConn ends e's lock connection from another session (pg_terminate_backend),
// as a network failure or an administrator would.
func killLockConn(ctx context.Context, t *testing.T, url string, e *Leader) {
	t.Helper()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	e.mu.Lock()
	pid := e.conn.PgConn().PID()
	e.mu.Unlock()
	if _, err := c.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
}
