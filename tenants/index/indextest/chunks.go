package indextest

import (
	"bytes"
	"testing"

	"github.com/syncspace/syncspace/tenants/index"
)

// chunkLists checks index.Chunks: lists by tenant and hash, replaced, dropped, and
// gone with their tenant.
func chunkLists(t *testing.T, x Readable) {
	for _, tn := range []index.Tenant{{Name: "a", ID: "ida"}, {Name: "b", ID: "idb"}} {
		if err := x.CreateTenant(ctx, tn, "e"); err != nil {
			t.Fatal(err)
		}
	}
	get := func(id, hash string) []byte {
		t.Helper()
		b, err := x.ChunkList(ctx, id, hash)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if b := get("ida", "h1"); b != nil {
		t.Fatalf("missing list: %q", b)
	}
	list := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000) // binary, with NUL bytes
	if err := x.PutChunkList(ctx, "ida", "h1", list); err != nil {
		t.Fatal(err)
	}
	if b := get("ida", "h1"); !bytes.Equal(b, list) {
		t.Fatalf("stored list differs (%d bytes)", len(b))
	}
	if b := get("idb", "h1"); b != nil {
		t.Fatal("a list leaked to another tenant")
	}
	if err := x.PutChunkList(ctx, "ida", "h1", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if b := get("ida", "h1"); string(b) != "v2" {
		t.Fatalf("replaced list: %q", b)
	}
	if err := x.DropChunkList(ctx, "ida", "h1"); err != nil {
		t.Fatal(err)
	}
	if err := x.DropChunkList(ctx, "ida", "h1"); err != nil {
		t.Fatalf("dropping a missing list: %v", err)
	}
	if b := get("ida", "h1"); b != nil {
		t.Fatal("dropped list still there")
	}
	if err := x.PutChunkList(ctx, "idb", "h2", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := x.DeleteTenant(ctx, "idb"); err != nil {
		t.Fatal(err)
	}
	if b := get("idb", "h2"); b != nil {
		t.Fatal("a deleted tenant's list is still there")
	}
}
