package engine_test

import (
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// A conflict on a file whose name is near the 255-byte limit gets a conflict copy
// whose name fits (the name is cut, the extension kept): the copy is made, uploaded
// and reaches the other side, and the passes settle (before, every pass failed to
// find a free name and retried for ever). On the plain folder and on the
// Windows-rules fake.
func TestConflictCopyOfLongName(t *testing.T) {
	for _, windows := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "fake"}[windows]
		t.Run(name, func(t *testing.T) {
			c := startSyncd(t)
			a, b := openSide(t, c, false), openSide(t, c, windows)
			long := "docs/" + strings.Repeat("é", 60) + strings.Repeat("n", 120) + ".txt" // 244-byte name
			if err := a.fs.MkdirAll("docs", 0o755); err != nil {
				t.Fatal(err)
			}
			a.write(t, long, "v1")
			settle(t, a, b)
			a.write(t, long, "from A")
			a.sync(t)
			b.write(t, long, "from B")
			settle(t, b, a)
			for _, s := range []*side{a, b} {
				names := s.names(t)
				var copies []string
				for _, n := range names {
					if strings.Contains(n, ".sync-conflict-") {
						copies = append(copies, n)
					}
				}
				if len(copies) != 1 || len(names) != 2 {
					t.Fatalf("%s: want the file and one conflict copy, got %q", s.dir, names)
				}
				seg := pathrule.Base(copies[0])
				if len(seg) > pathrule.MaxSegmentBytes || !strings.HasSuffix(seg, ".txt") || !strings.HasPrefix(seg, "ééé") {
					t.Fatalf("conflict copy name %q (%d bytes)", seg, len(seg))
				}
				if got := s.read(t, copies[0]); got != "from B" {
					t.Fatalf("%s: conflict copy holds %q", s.dir, got)
				}
				if got := s.read(t, long); got != "from A" {
					t.Fatalf("%s: %q holds %q", s.dir, long, got)
				}
			}
			if got := serverNames(t, c); len(got) != 2 {
				t.Fatalf("server: %q", got)
			}
		})
	}
}
