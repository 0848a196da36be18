package indextest

import (
	"bytes"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// stampOf is the stamp dirStamps stores for dir: binary, with NUL bytes.
func stampOf(dir string) []byte { return append([]byte{0, 0xff, 1}, dir...) }

// putStamps stores stampOf(d) for each of dirs of tenant id.
func putStamps(t *testing.T, x Readable, id string, dirs ...string) {
	t.Helper()
	var st []index.DirStamp
	for _, d := range dirs {
		st = append(st, index.DirStamp{Dir: d, Stamp: stampOf(d)})
	}
	if err := x.PutDirStamps(ctx, id, st); err != nil {
		t.Fatal(err)
	}
}

// hasStamps describes the stamps of dirs of tenant id, one byte each: '+' for
// stampOf(d), '-' for none, '?' for another one.
func hasStamps(t *testing.T, x Readable, id string, dirs ...string) string {
	t.Helper()
	var out []byte
	for _, d := range dirs {
		b, err := x.DirStamp(ctx, id, d)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case b == nil:
			out = append(out, '-')
		case bytes.Equal(b, stampOf(d)):
			out = append(out, '+')
		default:
			out = append(out, '?')
		}
	}
	return string(out)
}

// dirStamps checks index.DirStamps: stamps by tenant and directory, replaced, dropped
// with the directories a RemoveTree or a MoveTree removes or moves (and only those),
// and gone with their tenant.
func dirStamps(t *testing.T, x Readable) {
	for _, tn := range []index.Tenant{{Name: "a", ID: "ida"}, {Name: "b", ID: "idb"}} {
		if err := x.CreateTenant(ctx, tn, "e"); err != nil {
			t.Fatal(err)
		}
	}
	dirs := []string{"", "d", "d/e", "d/e/f", "d.x", "dd", "m", "m/n", "to", "to/x", "file"}
	if got := hasStamps(t, x, "ida", dirs...); got != "-----------" {
		t.Fatalf("stamps of a new tenant: %s", got)
	}
	putStamps(t, x, "ida", dirs...)
	putStamps(t, x, "idb", "d")
	if got := hasStamps(t, x, "ida", dirs...); got != "+++++++++++" {
		t.Fatalf("stored stamps: %s", got)
	}
	if err := x.PutDirStamps(ctx, "ida", []index.DirStamp{{Dir: "d", Stamp: []byte("v2")}}); err != nil {
		t.Fatal(err)
	}
	if got := hasStamps(t, x, "ida", "d"); got != "?" {
		t.Fatalf("replaced stamp: %s", got)
	}
	putStamps(t, x, "ida", "d")
	at := time.Unix(100, 0).UTC()
	commit(t, x, "ida", index.WriteOptions{},
		protocol.Metadata{Path: "d", IsDirectory: true, Modified: at}, protocol.Metadata{Path: "d/e", IsDirectory: true, Modified: at},
		protocol.Metadata{Path: "m", IsDirectory: true, Modified: at}, protocol.Metadata{Path: "file", Size: 1, Hash: "h", Modified: at})
	if err := x.Write(ctx, "ida", index.WriteOptions{}, func(tx index.Tx) error {
		if _, _, err := tx.RemoveTree("file"); err != nil { // a file: its path's stamp stays
			return err
		}
		if _, _, err := tx.RemoveTree("d/e"); err != nil {
			return err
		}
		return tx.MoveTree("m", "to", 5)
	}); err != nil {
		t.Fatal(err)
	}
	if got := hasStamps(t, x, "ida", dirs...); got != "++--++----+" {
		t.Fatalf("stamps after removing d/e and moving m to to: %s (dirs %q)", got, dirs)
	}
	if got := hasStamps(t, x, "idb", "d"); got != "+" {
		t.Fatalf("another tenant's stamp: %s", got)
	}
	if err := x.Write(ctx, "ida", index.WriteOptions{}, func(tx index.Tx) error {
		_, _, err := tx.RemoveTree("")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := hasStamps(t, x, "ida", dirs...); got != "-----------" {
		t.Fatalf("stamps after removing everything: %s", got)
	}
	if err := x.DeleteTenant(ctx, "idb"); err != nil {
		t.Fatal(err)
	}
	if got := hasStamps(t, x, "idb", "d"); got != "-" {
		t.Fatal("a deleted tenant's stamp is still there")
	}
}
