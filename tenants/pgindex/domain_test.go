package pgindex_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/localbus"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/rootblobs"
)

// TestDomainOverPostgres runs the tenants domain on this index: concurrent uploads
// (group commits), a directory, a move, a delete with its version; then the registry
// is opened again (start-up recovery reads) and the head, the log and the usage are
// as they were, in the same epoch.
func TestDomainOverPostgres(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	dir := t.TempDir()
	openReg := func() *tenants.Registry {
		t.Helper()
		blobs, err := rootblobs.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := tenants.Open(ctx, tenants.Deps{Index: open(t, url, 4, pgindex.Options{}), Bus: localbus.New(), Blobs: blobs},
			tenants.Limits{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	reg := openReg()
	if _, err := reg.Create(ctx, "team", tenants.Options{Quota: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	sp, err := reg.Space(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			body := strings.Repeat("x", i+1)
			if _, _, err := sp.Put(ctx, fmt.Sprintf("docs/f%d.txt", i), strings.NewReader(body), tenants.PutOptions{Size: int64(len(body))}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, _, err := sp.Mkdir(ctx, "empty", tenants.Source{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Move(ctx, "docs/f0.txt", "moved.txt", "", tenants.Source{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Delete(ctx, "docs/f7.txt", tenants.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	epoch, head := sp.Head()
	usage, err := sp.Usage(ctx)
	if err != nil || usage.Used != 1+2+3+4+5+6+7 || usage.Entries != 9 { // docs, 7 files, empty
		t.Fatalf("usage %+v %v", usage, err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}

	reg = openReg()
	defer reg.Close()
	sp, err = reg.Space(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if e, h := sp.Head(); e != epoch || h != head {
		t.Fatalf("reopened at %s/%d, want %s/%d", e, h, epoch, head)
	}
	if u, err := sp.Usage(ctx); err != nil || u != usage {
		t.Fatalf("reopened usage %+v %v, want %+v", u, err, usage)
	}
	page, err := sp.Changes(ctx, 0, epoch, 100)
	if err != nil || int64(len(page.Events)) != head {
		t.Fatalf("changes: %d events (%v), head %d", len(page.Events), err, head)
	}
	for i, ev := range page.Events {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if last := page.Events[len(page.Events)-1]; last.Operation.Kind() != protocol.OpDelete {
		t.Fatalf("last event %+v, want the delete", last)
	}
}
