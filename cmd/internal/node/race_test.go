package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestChecksHoldAcrossNodes: a node checks a write against PostgreSQL before it
// locks the tenant's head row, so another node may commit in between. Each case lets
// node A commit a conflicting change after node B's upload was checked (B's
// BeforeCommit) and before B commits. B must then fail with 503 unavailable (retried by clients) and leave
// A's change alone. Before session 25 B committed over it: a second Create of a new
// path replaced A's answered upload without keeping it as a version, a file replaced
// a directory that had gained a child, and a file landed in a directory A had just
// deleted (an entry without its parent).
func TestChecksHoldAcrossNodes(t *testing.T) {
	ctx := context.Background()
	_, spA, spB := twoNodeSpaces(t, "race")
	put := func(sp *tenants.Space, p, body string, before func() error) error {
		return putBefore(ctx, sp, p, body, before)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(put(spA, "d/a.txt", "in d", nil))
	cases := []struct {
		name, path string
		onA        func() error // A's change, between B's check and B's commit
		ok         bool         // B's upload must succeed: A's change does not conflict
	}{
		{"both create one path", "same.txt", func() error { return put(spA, "same.txt", "from A", nil) }, false},
		{"file over a directory that gained a child", "x", func() error { return put(spA, "x/child.txt", "child", nil) }, false},
		{"file into a directory deleted meanwhile", "d/b.txt", func() error {
			_, err := spA.Delete(ctx, "d", tenants.DeleteOptions{Recursive: true})
			return err
		}, false},
		{"both make one new directory", "new/b.txt", func() error { return put(spA, "new/a.txt", "from A", nil) }, true},
		{"a file beside", "other.txt", func() error { return put(spA, "beside.txt", "from A", nil) }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := put(spB, c.path, "from B", c.onA)
			if c.ok && err != nil {
				t.Errorf("B's upload after A's change: %v", err)
			}
			if !c.ok && protocol.CodeOf(err) != protocol.CodeUnavailable {
				t.Errorf("B's upload after A's change: %v, want unavailable", err)
			}
			var ra interface{ RetryAfterSeconds() int }
			if !c.ok && (!errors.As(err, &ra) || ra.RetryAfterSeconds() != 1) {
				t.Errorf("B's upload after A's change: %v, want Retry-After 1 s", err)
			}
		})
	}
	// Whatever happened, the index must be a tree and agree with the change log, and
	// A's answered upload must be there.
	entries := map[string]protocol.Metadata{}
	must(spB.List(ctx, "", true, func(string, int64) error { return nil }, func(m protocol.Metadata) error {
		entries[m.Path] = m
		return nil
	}))
	for p := range entries {
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			if parent, ok := entries[p[:i]]; !ok || !parent.IsDirectory {
				t.Errorf("%s is listed, its parent %s is not a listed directory", p, p[:i])
			}
		}
	}
	if f, _, err := spB.Open(ctx, "same.txt"); err != nil {
		t.Errorf("same.txt: %v", err)
	} else {
		var sb strings.Builder
		buf := make([]byte, 64)
		n, _ := f.Read(buf)
		sb.Write(buf[:n])
		f.Close()
		vs, _ := spB.Versions(ctx, "same.txt")
		if sb.String() != "from A" && len(vs) == 0 {
			t.Errorf("same.txt holds %q and no version: A's answered upload is lost", sb.String())
		}
	}
}

// TestDeleteChecksHoldAcrossNodes: node A deletes the directory d, which it found
// empty, while node B's upload into d commits between A's check and A's commit (the
// test holds the tenant's head row, so that both queue for it, B first). A must get
// 503 unavailable and B's file must stay. Before session 25 A's non-recursive delete of
// an "empty" directory removed B's answered upload with it, keeping no version.
func TestDeleteChecksHoldAcrossNodes(t *testing.T) {
	ctx := context.Background()
	a, spA, spB := twoNodeSpaces(t, "del")
	if _, _, err := spA.Mkdir(ctx, "d", tenants.Source{}); err != nil {
		t.Fatal(err)
	}
	lock, err := a.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, `SELECT 1 FROM tenant_heads WHERE tenant_id = $1 FOR UPDATE`, spA.ID()); err != nil {
		t.Fatal(err)
	}
	waiters := func(n int) func() bool {
		return func() bool {
			var got int
			err := a.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&got)
			return err == nil && got >= n
		}
	}
	bDone, aDone := make(chan error, 1), make(chan error, 1)
	go func() {
		_, _, err := spB.Put(ctx, "d/f.txt", strings.NewReader("from B"), tenants.PutOptions{Size: 6})
		bDone <- err
	}()
	waitUntil(t, 10*time.Second, "B's commit waiting for the head row", waiters(1))
	go func() {
		_, err := spA.Delete(ctx, "d", tenants.DeleteOptions{})
		aDone <- err
	}()
	waitUntil(t, 10*time.Second, "A's commit waiting for the head row", waiters(2))
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; err != nil {
		t.Fatalf("B's upload: %v", err)
	}
	if err := <-aDone; protocol.CodeOf(err) != protocol.CodeUnavailable {
		t.Errorf("A's delete of d after B's upload into it: %v, want unavailable", err)
	}
	if _, err := spB.Stat(ctx, "d/f.txt"); err != nil {
		if vs, _ := spB.Versions(ctx, "d/f.txt"); len(vs) == 0 {
			t.Errorf("B's answered upload d/f.txt is gone (%v) and kept no version", err)
		}
	}
}
