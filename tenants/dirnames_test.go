package tenants

import (
	"bytes"
	"context"
	"testing"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// TestDirNamesLoadAfterCaseRename: the check before an upload asks for a directory's
// names by the spelling it read outside the commit section; a case-only rename of the
// directory committed in between leaves its children under the new spelling. The
// load (in the section) must not record the directory as known with none of them:
// an existing file would then be answered absent, an If-Match upload of it refused
// and an If-None-Match one let through as a create.
func TestDirNamesLoadAfterCaseRename(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	old := e.put("D/x", []byte("first"))
	if _, err := e.sp.Move(ctx, "D", "d", "", Source{}); err != nil {
		t.Fatal(err)
	}
	// The interleaving: lookupManyCached read "D" before the rename, the load runs after.
	e.sp.cm.loadDirNames(ctx, "D")
	if e.sp.meta.whole("d") && e.sp.meta.absent(pathrule.FoldKey("d"), pathrule.FoldKey("d/x")) {
		t.Error("d/x, an indexed file, is known absent from d")
	}
	e.put("d/y", []byte("y")) // d in the entry cache: its names alone answer for d/x
	_, _, err := e.sp.Put(ctx, "d/x", tripwire{t}, PutOptions{Size: 4, IfNoneMatch: true})
	if protocol.CodeOf(err) != protocol.CodePreconditionFailed {
		t.Errorf("Put(d/x, If-None-Match: *) of an existing file = %v, want precondition_failed", err)
	}
	body := []byte("second")
	m, created, err := e.sp.Put(ctx, "d/x", bytes.NewReader(body), PutOptions{Size: int64(len(body)), IfMatch: old.Hash})
	if err != nil || created || m.Hash != sum(body) {
		t.Fatalf("Put(d/x, If-Match: its hash) = %+v created=%v %v, want an update", m, created, err)
	}
	vs, err := e.sp.Versions(ctx, "d/x")
	if err != nil || len(vs) != 1 || vs[0].Hash != old.Hash {
		t.Fatalf("versions of d/x = %+v %v, want the first content kept", vs, err)
	}
}
