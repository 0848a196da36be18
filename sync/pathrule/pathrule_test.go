package pathrule

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/text/unicode/norm"

	"github.com/syncspace/syncspace/sync/protocol"
)

func TestClean(t *testing.T) {
	long255 := strings.Repeat("a", 255)
	// 16 segments of 255 bytes + 15 slashes = 4095 bytes; one more byte is 4096.
	seg := strings.Repeat("b", 255)
	path4095 := strings.TrimSuffix(strings.Repeat(seg+"/", 16), "/")
	nfd := "cafe\u0301/re\u0301sume\u0301.txt"
	nfc := "caf\u00e9/r\u00e9sum\u00e9.txt"

	valid := []struct{ in, want string }{
		{"a", "a"},
		{"a/b/c.txt", "a/b/c.txt"},
		{"dir/.bashrc", "dir/.bashrc"},
		{"..a", "..a"},
		{"a..b", "a..b"},
		{"%2e%2e", "%2e%2e"}, // a literal percent sign is a valid name
		{"con-fig", "con-fig"},
		{"console.txt", "console.txt"},
		{"COM10", "COM10"},
		{"LPT", "LPT"},
		{"com\u2074", "com\u2074"}, // superscript four is not reserved
		{".syncspace2", ".syncspace2"},
		{"x.syncspace", "x.syncspace"},
		{"日本語/ファイル.txt", "日本語/ファイル.txt"},
		{nfd, nfc},
		{long255, long255},
		{path4095, path4095},
		{"a b/c d", "a b/c d"},
		{"emoji😀", "emoji😀"},
	}
	for _, tc := range valid {
		got, err := Clean(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Clean(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}

	attacks := []string{
		"",
		"/",
		"/etc/passwd",
		"//a",
		"a/",
		"a//b",
		".",
		"..",
		"../a",
		"a/../../b",
		"a/./b",
		"a/..",
		mustUnescape("%2e%2e/secret"),
		mustUnescape("a/%2E%2E/%2e%2e/b"),
		mustUnescape("..%2f..%2fetc"),
		"a\\b",
		"..\\..\\windows",
		"C:\\x",
		"C:",
		"a\x00b",
		"a\x01",
		"tab\there",
		"new\nline",
		"del\x7f",
		"c1\u0085",
		"c1\u009b",
		"bidi\u202e.txt",
		"bidi\u200f",
		"bidi\u2066x",
		"alm\u061c",
		"\ufeffbom",
		"a<b", "a>b", "a:b", "a\"b", "a|b", "a?b", "a*b",
		"trail.", "trail ", "dir./x", "dir /x", "...",
		"CON", "con", "Con.txt", "nul.tar.gz", "PRN", "aux.c", "com1", "COM9.log", "lpt0",
		"COM\u00b9", "com\u00b2.txt", "LPT\u00b3", "CONIN$", "conout$.x", "CON .txt",
		"dir/NUL", "a/b/lpt5.md",
		".syncspace", ".SyncSpace", "a/.syncspace", "a/b/.SYNCSPACE/c", ".\u017fyncspace", // long s folds to s
		long255 + "a",
		path4095 + "b",
		strings.Repeat("a/", 3000),
		"\xff\xfe",
		"a/\xc0\xaf",
		string([]byte{0xed, 0xa0, 0x80}), // UTF-16 surrogate encoded in UTF-8
		".x.",
	}
	for _, in := range attacks {
		got, err := Clean(in)
		if err == nil {
			t.Errorf("Clean(%q) = %q, want invalid_path", in, got)
			continue
		}
		if protocol.CodeOf(err) != protocol.CodeInvalidPath || !errors.Is(err, protocol.ErrInvalidPath) {
			t.Errorf("Clean(%q) error %v has wrong code", in, err)
		}
	}
}

func mustUnescape(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestCleanDir(t *testing.T) {
	if got, err := CleanDir(""); err != nil || got != "" {
		t.Fatalf("CleanDir(\"\") = %q, %v", got, err)
	}
	if got, err := CleanDir("a/b"); err != nil || got != "a/b" {
		t.Fatalf("CleanDir(a/b) = %q, %v", got, err)
	}
	for _, in := range []string{"/", "..", "a/", ".syncspace"} {
		if _, err := CleanDir(in); protocol.CodeOf(err) != protocol.CodeInvalidPath {
			t.Errorf("CleanDir(%q) err = %v", in, err)
		}
	}
}

func TestFoldKey(t *testing.T) {
	same := [][2]string{
		{"Readme.TXT", "readme.txt"},
		{"a/B/c", "A/b/C"},
		{"\u212a", "k"}, // Kelvin sign
		{"K", "\u212a"},
		{"\u017f", "S"}, // long s
		{"cafe\u0301", "CAF\u00c9"},
		{"Σ", "ς"},
		{"σ", "Σ"},
	}
	for _, p := range same {
		if FoldKey(p[0]) != FoldKey(p[1]) {
			t.Errorf("FoldKey(%q)=%q != FoldKey(%q)=%q", p[0], FoldKey(p[0]), p[1], FoldKey(p[1]))
		}
		if !strings.EqualFold(norm.NFC.String(p[0]), norm.NFC.String(p[1])) {
			t.Errorf("test pair %q %q not EqualFold", p[0], p[1])
		}
	}
	differ := [][2]string{{"a", "b"}, {"a/b", "ab"}, {"e\u0301", "e"}, {"ß", "ss"}}
	for _, p := range differ {
		if FoldKey(p[0]) == FoldKey(p[1]) {
			t.Errorf("FoldKey(%q) == FoldKey(%q)", p[0], p[1])
		}
	}
	if got := FoldKey("ABC/Def"); got != "abc/def" {
		t.Errorf("FoldKey ASCII = %q", got)
	}
}

func TestHelpers(t *testing.T) {
	if Parent("a/b/c") != "a/b" || Parent("a") != "" || Base("a/b/c") != "c" || Base("a") != "a" {
		t.Fatal("Parent/Base")
	}
	cases := []struct {
		p, dir string
		want   bool
	}{{"a/b", "a", true}, {"a", "a", true}, {"ab", "a", false}, {"a", "", true}, {"a", "a/b", false}}
	for _, c := range cases {
		if Within(c.p, c.dir) != c.want {
			t.Errorf("Within(%q,%q) != %v", c.p, c.dir, c.want)
		}
	}
}

// FuzzClean checks that Clean never panics, that its output is a fixed point and that
// the output obeys the rules it enforces, and that FoldKey agrees with strings.EqualFold.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "cafe\u0301", "CON.txt", ".SyncSpace/x", "a\\b",
		"\u202e", "x.", "K/\u212a", "%2e%2e", strings.Repeat("z", 300), "a//b", "\xff"} {
		f.Add(s, "A")
	}
	f.Fuzz(func(t *testing.T, p, q string) {
		c, err := Clean(p)
		if err != nil {
			if protocol.CodeOf(err) != protocol.CodeInvalidPath {
				t.Fatalf("Clean(%q): wrong error %v", p, err)
			}
			return
		}
		c2, err := Clean(c)
		if err != nil || c2 != c {
			t.Fatalf("Clean not idempotent: %q -> %q -> %q, %v", p, c, c2, err)
		}
		if !utf8Valid(c) || !norm.NFC.IsNormalString(c) || len(c) > MaxPathBytes || strings.HasPrefix(c, "/") ||
			strings.Contains(c, "\\") || strings.Contains(c, "//") || strings.ContainsRune(c, 0) {
			t.Fatalf("Clean(%q) = %q breaks the rules", p, c)
		}
		for _, seg := range strings.Split(c, "/") {
			if seg == "" || seg == "." || seg == ".." || len(seg) > MaxSegmentBytes || strings.EqualFold(seg, StateDirName) {
				t.Fatalf("Clean(%q) = %q has bad segment %q", p, c, seg)
			}
		}
		if d, err := Clean(q); err == nil {
			eq := strings.EqualFold(c, d)
			if eq != (FoldKey(c) == FoldKey(d)) {
				t.Fatalf("FoldKey disagrees with EqualFold for %q %q", c, d)
			}
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

// TestFoldKeyASCII: the ASCII fast path gives the rune-by-rune key, and an
// already-folded path is its own key (one string for both).
func TestFoldKeyASCII(t *testing.T) {
	var all []byte
	for c := 1; c < 0x80; c++ {
		all = append(all, byte(c))
	}
	for _, p := range []string{"", "a/b.txt", "ABC/Def", "k/K", string(all), "d0001/f000123.bin", "caf\u00e9/X"} {
		if got, want := FoldKey(p), foldRunes(p); got != want {
			t.Errorf("FoldKey(%q) = %q, rune by rune %q", p, got, want)
		}
	}
	p := strings.Clone("d0001/f000123.bin")
	if k := FoldKey(p); unsafe.StringData(k) != unsafe.StringData(p) {
		t.Error("the key of a folded ASCII path is a copy")
	}
}
