package pgindex_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/pgindex"
)

// TestStalledWriterLetsGo: node A stalls inside a Write (a frozen process, a cut
// network: its session stays open, idle in its transaction, holding the tenant's head
// row). Node B's commit to that tenant waits about WriteIdleTimeout, not until A comes
// back; A's Write then fails and commits nothing.
func TestStalledWriterLetsGo(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	o := pgindex.Options{WriteIdleTimeout: time.Second}
	a, b := open(t, url, 2, o), open(t, url, 2, o)
	if err := a.CreateTenant(ctx, index.Tenant{Name: "team", ID: "tid"}, "e1"); err != nil {
		t.Fatal(err)
	}
	locked, thaw := make(chan struct{}), make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		aDone <- a.Write(ctx, "tid", index.WriteOptions{}, func(tx index.Tx) error {
			m := protocol.Metadata{Path: "from-a", Hash: "h", Modified: time.Unix(1, 0).UTC(), Seq: 1}
			if err := tx.PutEntry(m); err != nil {
				return err
			}
			close(locked)
			<-thaw // frozen
			return nil
		})
	}()
	<-locked
	bDone := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := commitFiles(ctx, b, "tid", 1, "from-b")
		bDone <- err
	}()
	var bErr error
	finished := false
	select {
	case bErr = <-bDone:
		finished = true
		t.Logf("B committed after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Error("B's commit still waits for the stalled writer after 15 s")
	}
	close(thaw)
	if err := <-aDone; err == nil && finished {
		t.Error("the stalled Write committed after B's")
	}
	if !finished {
		bErr = <-bDone
	}
	if bErr != nil {
		t.Fatalf("B's commit: %v", bErr)
	}
	if e, err := b.Lookup(ctx, "tid", "from-a"); err != nil || (e != nil && finished) {
		t.Errorf("the stalled writer's entry: %+v, %v", e, err)
	}
}
