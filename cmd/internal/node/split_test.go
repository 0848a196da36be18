package node

import (
	"context"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestStaleCheckFailsOnlyItsWrite: node B gathers two uploads into one group commit;
// between B's check of one of them and B's commit, node A commits a conflicting
// upload of the same path. Only that upload must fail (503 unavailable, retried); the
// other, which conflicts with nothing, must commit. Before, the failed expectation
// failed B's whole transaction: every upload of the batch got 503. The test holds the
// tenant's head row while B's first upload commits, so that the next two queue behind
// it and form the next batch.
func TestStaleCheckFailsOnlyItsWrite(t *testing.T) {
	ctx := context.Background()
	a, spA, spB := twoNodeSpaces(t, "split")
	put := func(sp *tenants.Space, p, body string, before func() error) error {
		return putBefore(ctx, sp, p, body, before)
	}
	lock, err := a.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, `SELECT 1 FROM tenant_heads WHERE tenant_id = $1 FOR UPDATE`, spA.ID()); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- put(spB, "first.txt", "first", nil) }()
	waitUntil(t, 10*time.Second, "B's first commit waiting for the head row", func() bool {
		var got int
		err := a.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&got)
		return err == nil && got >= 1
	})
	same, beside := make(chan error, 1), make(chan error, 1)
	go func() {
		same <- put(spB, "same.txt", "from B", func() error { return put(spA, "same.txt", "from A", nil) })
	}()
	go func() { beside <- put(spB, "beside.txt", "from B", nil) }()
	time.Sleep(500 * time.Millisecond) // both received and queued behind the first
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatalf("B's first upload: %v", err)
	}
	if err := <-same; protocol.CodeOf(err) != protocol.CodeUnavailable {
		t.Errorf("B's upload of same.txt after A's: %v, want unavailable", err)
	}
	if err := <-beside; err != nil {
		t.Errorf("B's upload of beside.txt, in the same batch, conflicting with nothing: %v", err)
	}
	m, err := spB.Stat(ctx, "beside.txt")
	if err != nil || m.Seq == 0 {
		t.Errorf("beside.txt on B: %+v, %v", m, err)
	}
	// The change log stays gapless: 1 first.txt, then A's same.txt and beside.txt.
	page, err := spB.Changes(ctx, 0, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i, ev := range page.Events {
		if ev.Seq != int64(i+1) {
			t.Errorf("event %d has seq %d", i, ev.Seq)
		}
		paths = append(paths, ev.Operation.Meta().Path)
	}
	if len(paths) != 3 {
		t.Errorf("change log %v, want first.txt, same.txt (A's), beside.txt", paths)
	}
}
