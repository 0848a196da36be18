package indextest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// Full is an index with tenant records and recovery reads.
type Full interface {
	index.Writer
	index.Tenants
	index.Recovery
}

// RunTenants runs the suite of tenant records and recovery against empty indexes
// made by newIndex.
func RunTenants(t *testing.T, newIndex func(t *testing.T) Full) {
	t.Run("Records", func(t *testing.T) { records(t, newIndex(t)) })
	t.Run("Recovery", func(t *testing.T) { recovery(t, newIndex(t)) })
}

func records(t *testing.T, x Full) {
	at := time.Unix(100, 0).UTC()
	b := index.Tenant{Name: "b", ID: "idb", Quota: 5, MaxFileSize: 6, MaxEntries: 7, CreatedAt: at}
	a := index.Tenant{Name: "a", ID: "ida", CreatedAt: at}
	for _, tn := range []index.Tenant{b, a} {
		if err := x.CreateTenant(ctx, tn, "e-"+tn.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.CreateTenant(ctx, index.Tenant{Name: "a", ID: "other"}, "e"); !errors.Is(err, index.ErrTenantExists) {
		t.Fatalf("create a taken name: %v", err)
	}
	got, err := x.TenantByName(ctx, "b")
	if err != nil || got != b {
		t.Fatalf("tenant b: %+v %v, want %+v", got, err, b)
	}
	list, err := x.Tenants(ctx)
	if err != nil || !slices.Equal(list, []index.Tenant{a, b}) {
		t.Fatalf("tenants %+v %v, want a then b", list, err)
	}
	if epoch, head, _, err := x.LoadHead(ctx, "ida"); err != nil || epoch != "e-ida" || head != 0 {
		t.Fatalf("head of a new tenant: %q %d %v", epoch, head, err)
	}
	if err := x.DeleteTenant(ctx, "ida"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		x.DeleteTenant(ctx, "ida"),
		func() error { _, err := x.TenantByName(ctx, "a"); return err }(),
		func() error { _, _, _, err := x.LoadHead(ctx, "ida"); return err }(),
	} {
		if !errors.Is(err, index.ErrNoTenant) {
			t.Errorf("after delete: %v, want ErrNoTenant", err)
		}
	}
}

func recovery(t *testing.T, x Full) {
	if err := x.CreateTenant(ctx, index.Tenant{Name: "t", ID: "id"}, "e1"); err != nil {
		t.Fatal(err)
	}
	if err := x.Write(ctx, "id", index.WriteOptions{}, func(tx index.Tx) error {
		for i, m := range []protocol.Metadata{{Path: "d", IsDirectory: true}, {Path: "d/a", Size: 3}, {Path: "b", Size: 4}} {
			if err := tx.Append(event(int64(i+1), m.Path), 0, time.Now()); err != nil {
				return err
			}
			if err := tx.PutEntry(m); err != nil {
				return err
			}
		}
		for _, v := range []string{"v1", "v2", "v3"} {
			if err := tx.AddVersion(v, protocol.Metadata{Path: "b", Size: 1}, time.Now(), false); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if epoch, head, maxSeq, err := x.LoadHead(ctx, "id"); err != nil || epoch != "e1" || head != 3 || maxSeq != 3 {
		t.Fatalf("head: %q %d %d %v", epoch, head, maxSeq, err)
	}
	if used, n, err := x.Usage(ctx, "id"); err != nil || used != 7 || n != 3 {
		t.Fatalf("usage: %d bytes %d entries %v, want 7 3", used, n, err)
	}
	// A restored head behind its log: recovery moves it to a new epoch.
	if err := x.SetHead(ctx, "id", "e2", 1); err != nil {
		t.Fatal(err)
	}
	if epoch, head, maxSeq, err := x.LoadHead(ctx, "id"); err != nil || epoch != "e2" || head != 1 || maxSeq != 3 {
		t.Fatalf("head after SetHead: %q %d %d %v", epoch, head, maxSeq, err)
	}
	if err := x.DeleteVersionRows(ctx, "id", []string{"v2"}); err != nil {
		t.Fatal(err)
	}
	ids, err := x.VersionIDs(ctx, "id")
	slices.Sort(ids)
	if err != nil || !slices.Equal(ids, []string{"v1", "v3"}) {
		t.Fatalf("versions %v %v, want v1 v3", ids, err)
	}
}
