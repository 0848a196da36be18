package indextest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"

	"github.com/syncspace/syncspace/tenants/index"
)

// chunkLists checks index.Chunks: lists by tenant and hash, replaced, dropped, and
// gone with their tenant; then which lists a drop and a sweep keep (chunkSweep).
func chunkLists(t *testing.T, x Readable) {
	defer chunkSweep(t, x)
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

// chunkSweep: a drop and a sweep keep the list of a content that a file of the same
// tenant still has (not one of another tenant, nor a directory), and drop the others;
// a sweep pages through every tenant's lists, limit keys at a time.
func chunkSweep(t *testing.T, x Readable) {
	const big = 2 << 20 // lists exist for contents of 1 MiB or more only
	for _, tn := range []index.Tenant{{Name: "c", ID: "idc"}, {Name: "d", ID: "idd"}} {
		if err := x.CreateTenant(ctx, tn, "e"); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, x, "idc", index.WriteOptions{}, protocol.Metadata{Path: "one", Size: big, Hash: "used"},
		protocol.Metadata{Path: "two", Size: big, Hash: "shared"}, protocol.Metadata{Path: "three", Size: big, Hash: "shared"})
	commit(t, x, "idd", index.WriteOptions{}, protocol.Metadata{Path: "other", Size: big, Hash: "elsewhere"})
	put := func(id, hash string) {
		t.Helper()
		if err := x.PutChunkList(ctx, id, hash, []byte(hash)); err != nil {
			t.Fatal(err)
		}
	}
	have := func(id, hash string) bool {
		t.Helper()
		b, err := x.ChunkList(ctx, id, hash)
		if err != nil {
			t.Fatal(err)
		}
		return b != nil
	}
	put("idc", "used")
	put("idc", "shared")
	if err := x.DropChunkList(ctx, "idc", "used"); err != nil {
		t.Fatal(err)
	}
	if !have("idc", "used") {
		t.Fatal("a drop took the list of a content a file still has")
	}
	// The same content at two paths: the list stays until both are gone.
	remove := func(id, p string) {
		t.Helper()
		if err := x.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
			_, seq := tx.Head()
			if err := tx.Append(event(seq+1, p), 0, time.Now()); err != nil {
				return err
			}
			_, _, err := tx.RemoveTree(p)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	remove("idc", "two")
	if err := x.DropChunkList(ctx, "idc", "shared"); err != nil || !have("idc", "shared") {
		t.Fatalf("the list of a content still at another path went: %v", err)
	}
	remove("idc", "three")
	if err := x.DropChunkList(ctx, "idc", "shared"); err != nil || have("idc", "shared") {
		t.Fatalf("the list of a content no file has is kept: %v", err)
	}
	sweepPages(t, x, put, have)
}

// sweepPages: chunkSweep's sweep, over lists nothing has (one whose hash is a file's in
// another tenant, one a directory's) among lists in use, over two tenants.
func sweepPages(t *testing.T, x Readable, put func(id, hash string), have func(id, hash string) bool) {
	commit(t, x, "idc", index.WriteOptions{}, protocol.Metadata{Path: "dir", IsDirectory: true, Hash: "dirhash"})
	for i := range 5 {
		put("idc", fmt.Sprintf("orphan%d", i))
		put("idd", fmt.Sprintf("orphan%d", i))
	}
	put("idc", "elsewhere")
	put("idc", "dirhash")
	put("idd", "elsewhere")
	var from index.ChunkKey
	dropped, pages := 0, 0
	for {
		next, n, err := x.SweepChunkLists(ctx, from, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		dropped += n
		if next == (index.ChunkKey{}) {
			break
		}
		if next.TenantID < from.TenantID || next.TenantID == from.TenantID && next.Hash <= from.Hash || pages > 10 {
			t.Fatalf("sweep went from %+v to %+v (page %d)", from, next, pages)
		}
		from = next
	}
	// idc: elsewhere, dirhash, orphan0-4, used; idd: elsewhere, orphan0-4: 14 lists.
	if dropped != 12 || pages != 5 {
		t.Fatalf("sweep dropped %d lists in %d pages, want 12 in 5", dropped, pages)
	}
	if !have("idc", "used") || !have("idd", "elsewhere") || have("idc", "elsewhere") || have("idc", "dirhash") || have("idd", "orphan4") {
		t.Fatal("the sweep kept or dropped the wrong lists")
	}
	if next, n, err := x.SweepChunkLists(ctx, index.ChunkKey{}, 10); err != nil || n != 0 || next != (index.ChunkKey{}) {
		t.Fatalf("a second sweep: %+v %d %v", next, n, err)
	}
}
