package logpath

import (
	"strings"
	"testing"

	"github.com/syncspace/syncspace/auth/share"
)

func TestOf(t *testing.T) {
	const id = "JQgnfNvZDqMlok-qwgMA0g"
	key := share.KeyOf(id)
	k := "<key:" + key[:16] + ">"
	cases := []struct{ in, want string }{
		{"/s/" + id, "/s/" + k},
		{"/s/" + id + "/", "/s/" + k + "/"},
		{"/s/" + id + "/files/proj/a.txt", "/s/" + k + "/files/proj/a.txt"},
		{"/s/" + id + "/archive", "/s/" + k + "/archive"},
		{"/api/shares/" + id, "/api/shares/" + k},
		{"/api/shares/" + key, "/api/shares/" + k},
		{"//s/" + id, "//s/" + k},
		{"/s/" + id[:21], "/s/<redacted>"},
		{"/s/" + id + "x/files/y", "/s/<redacted>/files/y"},
		{"/s/", "/s/"},
		{"/s", "/s"},
		{"/api/shares", "/api/shares"},
		{"/api/shares/", "/api/shares/"},
		{"/api/files/s/" + id, "/api/files/s/" + id}, // a tenant's file path, not a link
		{"/api/list", "/api/list"},
		{"/", "/"},
		{"", ""},
		{"s/" + id, "s/" + id}, // not a request path
	}
	for _, c := range cases {
		if got := Of(c.in); got != c.want {
			t.Errorf("Of(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzOf: whatever the path, the segment after a link route's prefix is logged only
// as a key prefix or "<redacted>", and nothing else of the path changes.
func TestOfAllocatesOnlyForLinks(t *testing.T) {
	for _, p := range []string{"/api/files/proj/a.txt", "/api/list", "/ws", "/api/shares"} {
		if n := testing.AllocsPerRun(100, func() { Of(p) }); n != 0 {
			t.Errorf("Of(%q): %v allocations", p, n)
		}
	}
}

func FuzzOf(f *testing.F) {
	for _, s := range []string{"/s/JQgnfNvZDqMlok-qwgMA0g/files/x", "//api/shares/x", "/api/files/x", "/s//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := Of(p)
		seg, tail, ok := linkSegment(p)
		if !ok {
			if got != p {
				t.Fatalf("Of(%q) = %q, want it unchanged", p, got)
			}
			return
		}
		gotSeg, gotTail, _ := linkSegment(got)
		if seg != "" && gotSeg != "<redacted>" && !strings.HasPrefix(gotSeg, "<key:") || gotTail != tail {
			t.Fatalf("Of(%q) = %q", p, got)
		}
	})
}

// linkSegment cuts p as Of does: the segment naming a link and what follows it.
func linkSegment(p string) (seg, tail string, ok bool) {
	trimmed := strings.TrimLeft(p, "/")
	if len(trimmed) == len(p) {
		return "", "", false
	}
	for _, prefix := range secretPrefixes {
		if rest, found := strings.CutPrefix(trimmed, prefix); found && rest != "" {
			seg, tail, _ = strings.Cut(rest, "/")
			return seg, tail, true
		}
	}
	return "", "", false
}

// BenchmarkOf: the cost Of adds to every request's log line, for a typical API path
// (unchanged) and for a share link's (rewritten).
func BenchmarkOf(b *testing.B) {
	for _, p := range []string{"/api/files/projects/2026/report-final.pdf", "/s/JQgnfNvZDqMlok-qwgMA0g/files/proj/a.txt"} {
		b.Run(strings.SplitN(p[1:], "/", 2)[0], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Of(p)
			}
		})
	}
}
