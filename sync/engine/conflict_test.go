package engine

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/syncspace/syncspace/sync/pathrule"
)

func TestDecide(t *testing.T) {
	none := side{}
	dir := side{k: kDir}
	f := func(h string) side { return side{k: kFile, hash: h} }
	cases := []struct {
		name    string
		l, b, r side
		want    decision
	}{
		{"all absent", none, none, none, decNone},
		{"unchanged file", f("a"), f("a"), f("a"), decNone},
		{"unchanged dir", dir, dir, dir, decNone},
		{"created locally", f("a"), none, none, decPush},
		{"created remotely", none, none, f("a"), decPull},
		{"created both same", f("a"), none, f("a"), decRecord},
		{"created both differ (first sync / epoch change)", f("a"), none, f("b"), decConflict},
		{"changed locally", f("b"), f("a"), f("a"), decPush},
		{"changed remotely", f("a"), f("a"), f("b"), decPull},
		{"changed both same", f("b"), f("a"), f("b"), decRecord},
		{"changed both differ", f("b"), f("a"), f("c"), decConflict},
		{"deleted locally", none, f("a"), f("a"), decPush},
		{"deleted remotely", f("a"), f("a"), none, decPull},
		{"deleted both", none, f("a"), none, decRecord},
		{"local delete vs remote modify: modify wins", none, f("a"), f("b"), decPull},
		{"local modify vs remote delete: modify wins", f("b"), f("a"), none, decPush},
		{"dir created locally", dir, none, none, decPush},
		{"dir created remotely", none, none, dir, decPull},
		{"dir deleted remotely", dir, dir, none, decPull},
		{"dir deleted locally", none, dir, dir, decPush},
		{"file replaced by dir remotely", f("a"), f("a"), dir, decPull},
		{"dir replaced by file locally", f("a"), dir, dir, decPush},
		{"type conflict", f("a"), none, dir, decConflict},
		{"no base, both dirs", dir, none, dir, decRecord},
		// Epoch change / lost base: nothing is ever deleted.
		{"no base: local only stays and is uploaded", f("a"), none, none, decPush},
		{"no base: remote only is downloaded", none, none, f("a"), decPull},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := decide(c.l, c.b, c.r); got != c.want {
				t.Fatalf("decide(%v, %v, %v) = %v, want %v", c.l, c.b, c.r, got, c.want)
			}
		})
	}
}

func TestConflictName(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600))
	cases := []struct {
		path, id string
		n        int
		want     string
	}{
		{"report.docx", "abcdef1234", 1, "report.sync-conflict-20260304-040607-abcdef12.docx"},
		{"dir/sub/archive.tar.gz", "abcdef1234", 1, "dir/sub/archive.tar.sync-conflict-20260304-040607-abcdef12.gz"},
		{".bashrc", "abcdef1234", 1, ".bashrc.sync-conflict-20260304-040607-abcdef12"},
		{"a/.bashrc", "abcdef1234", 1, "a/.bashrc.sync-conflict-20260304-040607-abcdef12"},
		{"Makefile", "short", 1, "Makefile.sync-conflict-20260304-040607-short"},
		{"x.txt", "abcdef1234", 2, "x.sync-conflict-20260304-040607-abcdef12-2.txt"},
		{"x.txt", "abcdef1234", 3, "x.sync-conflict-20260304-040607-abcdef12-3.txt"},
		{"dir.v2/file", "abcdef1234", 1, "dir.v2/file.sync-conflict-20260304-040607-abcdef12"},
	}
	for _, c := range cases {
		if got := ConflictName(c.path, c.id, at, c.n); got != c.want {
			t.Errorf("ConflictName(%q, %q, %d) = %q, want %q", c.path, c.id, c.n, got, c.want)
		}
	}
}

// A conflict copy's name fits the 255-byte segment limit (and the 4096-byte path limit
// where the directory leaves room) whatever the original name: the stem is cut at a
// normalization boundary, the extension kept, and the result passes the path rules.
func TestConflictNameFitsLimits(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	deep := strings.Repeat("d/", 1990) // 3980 bytes of directories
	cases := []struct {
		name, path, ext string
	}{
		{"ascii", strings.Repeat("a", 251) + ".txt", ".txt"},
		{"two-byte runes", strings.Repeat("é", 125) + ".md", ".md"},
		{"three-byte runes", strings.Repeat("語", 83) + ".txt", ".txt"},
		{"four-byte runes", strings.Repeat("😀", 62) + ".z", ".z"},
		{"combining marks (NFD local name)", strings.Repeat("e\u0301", 80) + ".txt", ".txt"},
		{"no extension", strings.Repeat("b", 255), ""},
		{"dot file", "." + strings.Repeat("c", 254), ""},
		{"extension too long to keep", "x." + strings.Repeat("y", 240), ""},
		{"in a directory", "sub/dir/" + strings.Repeat("a", 250) + ".pdf", ".pdf"},
		{"deep path", deep + strings.Repeat("f", 100) + ".txt", ".txt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, name := pathrule.Parent(c.path), pathrule.Base(c.path)
			seen := map[string]bool{}
			for n := 1; n <= 12; n++ {
				got := ConflictName(c.path, "abcdef1234", at, n)
				seg := pathrule.Base(got)
				if pathrule.Parent(got) != dir {
					t.Fatalf("n=%d: %q moved out of %q", n, got, dir)
				}
				if len(seg) > pathrule.MaxSegmentBytes || len(norm.NFC.String(seg)) > pathrule.MaxSegmentBytes {
					t.Fatalf("n=%d: segment of %d bytes: %q", n, len(seg), seg)
				}
				if len(got) > pathrule.MaxPathBytes {
					t.Fatalf("n=%d: path of %d bytes", n, len(got))
				}
				if !utf8.ValidString(seg) || !strings.HasSuffix(seg, c.ext) || !strings.Contains(seg, ".sync-conflict-20260304-050607-abcdef12") {
					t.Fatalf("n=%d: %q", n, seg)
				}
				stem := seg[:strings.Index(seg, ".sync-conflict-")]
				if stem == "" || !strings.HasPrefix(name, stem) {
					t.Fatalf("n=%d: stem %q is not a prefix of %q", n, stem, name)
				}
				if rest := name[len(stem):]; rest != "" && strings.HasPrefix(rest, "\u0301") {
					t.Fatalf("n=%d: cut between a letter and its accent: %q", n, stem)
				}
				if _, err := pathrule.Clean(norm.NFC.String(got)); err != nil {
					t.Fatalf("n=%d: %q refused by the path rules: %v", n, got, err)
				}
				if seen[got] {
					t.Fatalf("n=%d: %q repeats an earlier name", n, got)
				}
				seen[got] = true
			}
		})
	}
}
