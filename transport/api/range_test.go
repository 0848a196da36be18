package api_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/tenants"
)

// contentRange is RFC 9110's Content-Range of a 206 part or a 416:
// "bytes FIRST-LAST/SIZE" with FIRST <= LAST < SIZE, or "bytes */SIZE".
var contentRange = regexp.MustCompile(`^bytes (?:(\d+)-(\d+)|\*)/(\d+)$`)

// checkContentRange fails unless v is a well-formed Content-Range.
func checkContentRange(t *testing.T, v string) {
	t.Helper()
	m := contentRange.FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("Content-Range %q is malformed", v)
	}
	if m[1] == "" {
		return
	}
	first, _ := strconv.ParseInt(m[1], 10, 64)
	last, _ := strconv.ParseInt(m[2], 10, 64)
	size, _ := strconv.ParseInt(m[3], 10, 64)
	if first > last || last >= size {
		t.Fatalf("Content-Range %q names no byte of the file", v)
	}
}

// TestRangeZeroLength: a suffix range of zero bytes ("-0"), or any suffix range of an
// empty file, selects nothing (RFC 9110 §14.1.2: unsatisfiable). net/http's
// ServeContent answered them 206 with an impossible Content-Range ("bytes 11-10/11",
// "bytes 0--1/0") and an empty body, or an empty part inside a multipart answer.
// Now: 416 with "bytes */SIZE" when nothing else is asked, the other ranges alone
// when some are satisfiable, and the whole (empty) file for an empty one, as net/http
// answers any range of an empty file. Also RFC 9110 §14.2: a range unit other than
// bytes is ignored (it was 416), the unit matches in any case, and every 416 carries
// "bytes */SIZE" (a malformed range's had none).
func TestRangeZeroLength(t *testing.T) {
	e := startDaemon(t, nil)
	w := e.tenant("acme", tenants.Options{}, "write")
	e.put(w, "f.txt", []byte("hello world"))
	e.put(w, "empty.txt", nil)

	cases := []struct {
		name, path, rng string
		status          int
		body            string // "" checks nothing but Content-Range
	}{
		{"valid suffix", "f.txt", "bytes=-3", 206, "rld"},
		{"valid range", "f.txt", "bytes=0-1", 206, "he"},
		{"valid whole empty file", "empty.txt", "bytes=0-", 200, ""},
		// attacks
		{"attack: zero suffix", "f.txt", "bytes=-0", 416, ""},
		{"attack: zero suffix, spaces", "f.txt", "bytes= -0 ", 416, ""},
		{"attack: zero suffix, leading zeros", "f.txt", "bytes=-000", 416, ""},
		{"attack: zero suffix beside a valid range", "f.txt", "bytes=-0,0-1", 206, "he"},
		{"attack: zero suffix twice", "f.txt", "bytes=-0,-0", 416, ""},
		{"attack: suffix of an empty file", "empty.txt", "bytes=-5", 200, ""},
		{"attack: zero suffix of an empty file", "empty.txt", "bytes=-0", 200, ""},
		{"attack: unknown range unit", "f.txt", "items=0-1", 200, "hello world"},
		{"attack: upper-case unit", "f.txt", "Bytes=0-1", 206, "he"},
		{"attack: malformed range", "f.txt", "bytes=1-0", 416, ""},
		{"attack: no unit", "f.txt", "0-1", 200, "hello world"},
	}
	for _, c := range cases {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(method+" "+c.name, func(t *testing.T) {
				a := e.do(req{method: method, path: "/api/files/" + c.path, token: w, hdr: map[string]string{"Range": c.rng}})
				if a.status != c.status {
					t.Fatalf("%s %s Range %q: %d %q, want %d", method, c.path, c.rng, a.status, a.body, c.status)
				}
				if v := a.hdr.Get("Content-Range"); v != "" || c.status != 200 {
					checkContentRange(t, v)
				}
				if strings.Contains(string(a.body), "--1/") || strings.Contains(string(a.body), "11-10/") {
					t.Fatalf("a part names no byte: %q", a.body)
				}
				if method == "GET" && c.body != "" && string(a.body) != c.body {
					t.Fatalf("body %q, want %q", a.body, c.body)
				}
			})
		}
	}
}
