package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestListSnapshotAcrossNodes: a listing longer than one page on node B is one
// snapshot at its seq (SPEC §3) while node A writes between its pages, also when a
// third node opens the tenant meanwhile: A deletes an entry B has not listed yet and
// creates one after it.
func TestListSnapshotAcrossNodes(t *testing.T) {
	ctx := context.Background()
	open := testCluster(t, "postgres")
	a, b := open(), open()
	if _, err := a.Tenants.Create(ctx, "team", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	spA, err := a.Tenants.Space(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	const n = 600 // more than two pages
	var want []string
	for i := range n {
		p := fmt.Sprintf("d%03d", i)
		if _, _, err := spA.Mkdir(ctx, p, tenants.Source{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	var spB *tenants.Space
	waitUntil(t, 15*time.Second, "tenant on B", func() bool {
		spB, err = b.Tenants.Space(ctx, "team")
		return err == nil
	})
	var got []string
	var seq int64
	err = spB.List(ctx, "", false, func(_ string, s int64) error { seq = s; return nil }, func(m protocol.Metadata) error {
		if len(got) == 0 {
			if _, err := spA.Delete(ctx, "d599", tenants.DeleteOptions{}); err != nil {
				return err
			}
			if _, _, err := spA.Mkdir(ctx, "e-new", tenants.Source{}); err != nil {
				return err
			}
			// A third node opens the tenant (as after a restart) while B lists.
			c := open()
			if _, err := c.Tenants.Space(ctx, "team"); err != nil {
				return err
			}
			if _, _, err := spA.Mkdir(ctx, "d300/sub", tenants.Source{}); err != nil {
				return err
			}
			if _, err := spA.Delete(ctx, "d598", tenants.DeleteOptions{}); err != nil {
				return err
			}
		}
		got = append(got, m.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seq != n {
		t.Errorf("listing at seq %d, want %d", seq, n)
	}
	if !slices.Equal(got, want) {
		t.Errorf("B's listing at seq %d has %d entries (last %v), want the %d of that seq", seq, len(got), got[max(len(got)-2, 0):], n)
	}
}
