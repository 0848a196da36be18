package share

import (
	"testing"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/pathscope"
)

// FuzzSharePath: whatever follows /s/{id}/files/, a path the link's scope lets
// through is a clean path inside the shared folder, under the same folding as names.
func FuzzSharePath(f *testing.F) {
	for _, s := range []string{"proj/a/x", "proj/a/../b", "PROJ/A/x", "proj/ab", "proj%2Fa", "proje\u0301/x", "/proj/a", "proj/a/", "proj/a/./x", "proj/a\\..\\b"} {
		f.Add("/s/ID/files/"+s, "ID")
	}
	scope, err := pathscope.Parse([]string{"proj/a"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, urlPath, id string) {
		p, err := filesPath(urlPath, id)
		if err != nil {
			return
		}
		if again, err := pathrule.Clean(p); err != nil || again != p {
			t.Fatalf("%q not clean: %v", p, err)
		}
		if scope.CheckPath(p) != nil {
			return
		}
		if !pathrule.Within(pathrule.FoldKey(p), "proj/a") {
			t.Fatalf("%q let through, outside proj/a", p)
		}
	})
}
