package tenants

import (
	"context"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestRestoreInAnotherCase: names are matched under case folding (SPEC §3), and so
// are versions (GET /api/versions?path=docs/a.txt lists those of Docs/A.txt).
// Restoring with the path in another case writes the version back to the stored
// spelling (an update of that file, or under the stored directories of a deleted
// one) instead of answering 409 for a second name; an explicit `to` naming a case
// twin is still a 409, as a PUT there is.
func TestRestoreInAnotherCase(t *testing.T) {
	e := newEnv(t, Limits{RetainVersions: time.Hour}, Options{})
	ctx := context.Background()
	e.put("Docs/A.txt", []byte("one"))
	e.put("Docs/A.txt", []byte("two"))
	vs, err := e.sp.Versions(ctx, "docs/a.txt")
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions in another case: %+v %v", vs, err)
	}
	m, err := e.sp.Restore(ctx, "docs/a.txt", vs[0].ID, "", Source{})
	if err != nil || m.Path != "Docs/A.txt" || string(e.read("Docs/A.txt")) != "one" {
		t.Fatalf("restore in another case: %+v %v", m, err)
	}
	if last := e.evs()[len(e.evs())-1]; last.Operation.Update == nil || last.Operation.Update.Metadata.Path != "Docs/A.txt" {
		t.Fatalf("event %+v", last)
	}
	// A deleted file whose directory is still there under its own spelling.
	e.put("Docs/gone.txt", []byte("bye"))
	if _, err := e.sp.Delete(ctx, "Docs/gone.txt", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	vs, err = e.sp.Versions(ctx, "DOCS/gone.txt")
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions of the deleted file: %+v %v", vs, err)
	}
	if m, err := e.sp.Restore(ctx, "DOCS/gone.txt", vs[0].ID, "", Source{}); err != nil || m.Path != "Docs/gone.txt" {
		t.Fatalf("restore of a deleted file under a directory in another case: %+v %v", m, err)
	}
	// `to` is where the caller asks to write: a case twin there is a conflict.
	_, err = e.sp.Restore(ctx, "Docs/A.txt", vs[0].ID, "docs/a.txt", Source{})
	wantCode(t, err, protocol.CodeNotFound) // vs[0] is gone.txt's version, not A.txt's
	avs, _ := e.sp.Versions(ctx, "Docs/A.txt")
	_, err = e.sp.Restore(ctx, "Docs/A.txt", avs[0].ID, "docs/a.txt", Source{})
	wantCode(t, err, protocol.CodeConflict)
}
