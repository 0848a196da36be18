package tenants

import (
	"context"
	"errors"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
)

// tripwire is an upload body that fails the test if it is read: the check before
// the body must refuse the upload first.
type tripwire struct{ t *testing.T }

func (r tripwire) Read([]byte) (int, error) {
	r.t.Error("the body was read: the check before it passed on a stale view")
	return 0, errors.New("tripwire")
}

// TestPreBodyCheckFromCache: the check before an upload's body reads ancestors from
// the metadata cache (lookupManyCached). After every kind of write to an ancestor it
// must see the write: an upload under a path that became a file, or into a path that
// became a directory, is refused before its body is read.
func TestPreBodyCheckFromCache(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	refused := func(p string, o PutOptions, want protocol.Code) {
		t.Helper()
		o.Size = 4
		_, _, err := e.sp.Put(ctx, p, tripwire{t}, o)
		if protocol.CodeOf(err) != want {
			t.Fatalf("Put(%s) = %v, want %s", p, err, want)
		}
	}
	// Uploads into d fill the cache with d's entry (a directory).
	e.put("d/a", []byte("a"))
	e.put("d/b", []byte("b"))
	if e.sp.meta.len() == 0 {
		t.Fatal("nothing cached: the test would not test the cache")
	}
	// d replaced by a file: d/c has a parent that is a file.
	if _, err := e.sp.Delete(ctx, "d", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	e.put("d", []byte("now a file"))
	refused("d/c", PutOptions{}, protocol.CodeConflict)
	// d moved away and a file moved into its place.
	e.put("e/x", []byte("x"))
	e.put("e/y", []byte("y"))
	if _, err := e.sp.Delete(ctx, "d", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.put("f", []byte("f"))
	if _, err := e.sp.Move(ctx, "e", "g", "", Source{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sp.Move(ctx, "f", "e", "", Source{}); err != nil {
		t.Fatal(err)
	}
	refused("e/z", PutOptions{}, protocol.CodeConflict)
	// A case-only rename of the ancestor: the old spelling is now another case.
	e.put("h/x", []byte("x"))
	e.put("h/y", []byte("y"))
	if _, err := e.sp.Move(ctx, "h", "H", "", Source{}); err != nil {
		t.Fatal(err)
	}
	refused("h/z", PutOptions{}, protocol.CodeConflict)
	// The target itself: If-None-Match on a file written since.
	e.put("k/one", []byte("1"))
	refused("k/one", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)
	e.put("k/two", []byte("2"))
	refused("k/two", PutOptions{IfMatch: sum([]byte("other"))}, protocol.CodePreconditionFailed)
}
