package api

import (
	"bytes"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// partRange is a well-formed Content-Range of a 206 answer or part.
var partRange = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// checkPart fails unless v names bytes FIRST-LAST of a file of size bytes and body
// is exactly those bytes of content.
func checkPart(t *testing.T, v string, body, content []byte) {
	t.Helper()
	m := partRange.FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("Content-Range %q", v)
	}
	first, _ := strconv.ParseInt(m[1], 10, 64)
	last, _ := strconv.ParseInt(m[2], 10, 64)
	size, _ := strconv.ParseInt(m[3], 10, 64)
	if size != int64(len(content)) || first > last || last >= size || !bytes.Equal(body, content[first:last+1]) {
		t.Fatalf("Content-Range %q with body %q of %q", v, body, content)
	}
}

// FuzzRangeHeader: whatever the Range header, a download answers 200 with the whole
// content, 206 with parts that each name at least one byte of the file and carry
// exactly those bytes, or 416 with Content-Range "bytes */SIZE"; never a zero-length
// part. A range unit other than bytes is ignored (200).
func FuzzRangeHeader(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-0", "bytes=-3", "bytes= -0 ,0-1", "bytes=-0,-0", "bytes=5-", "bytes=99-", "bytes=1-0", "bytes=--1", "items=0-1", "bytes=0-0,2-3", "Bytes=0-1", "items=0-1", "bytes=0-1;x"} {
		f.Add(s, uint8(11))
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, rng string, n uint8) {
		content := bytes.Repeat([]byte("0123456789abcdef"), 16)[:n]
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Range", rng)
		w := httptest.NewRecorder()
		size := int64(len(content))
		fixRange(r.Header, size) // as ServeFile serves a download
		sw := &statusWriter{ResponseWriter: w, onError: func(w http.ResponseWriter, status int) { serveContentError(w, status, size) }}
		http.ServeContent(sw, r, "", time.Time{}, bytes.NewReader(content))
		body := w.Body.Bytes()
		switch w.Code {
		case http.StatusOK:
			if !bytes.Equal(body, content) {
				t.Fatalf("200 body %q", body)
			}
		case http.StatusRequestedRangeNotSatisfiable:
			if unit, _, _ := strings.Cut(rng, "="); !strings.EqualFold(unit, "bytes") {
				t.Fatalf("416 for the unknown range unit of %q", rng)
			}
			if v := w.Header().Get("Content-Range"); v != "bytes */"+strconv.Itoa(len(content)) {
				t.Fatalf("416 Content-Range %q", v)
			}
		case http.StatusPartialContent:
			checkParts(t, w, body, content)
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}

// checkParts checks a 206 answer: one range, or a multipart/byteranges body.
func checkParts(t *testing.T, w *httptest.ResponseRecorder, body, content []byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		checkPart(t, w.Header().Get("Content-Range"), body, content)
		return
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return
		}
		var b bytes.Buffer
		b.ReadFrom(p)
		checkPart(t, p.Header.Get("Content-Range"), b.Bytes(), content)
	}
}

// FuzzContentDisposition: for any name the path rules accept as a segment, the
// download's Content-Disposition parses and names it exactly.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"a.txt", "a=b", "me@home", "é ü.txt", "it's (1)", "a;b,c", "100%", "x\"y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if p, err := pathrule.Clean(name); err != nil || p != name || strings.Contains(name, "/") {
			return
		}
		v := contentDisposition(name)
		disp, params, err := mime.ParseMediaType(v)
		if err != nil || disp != "attachment" || params["filename"] != name {
			t.Fatalf("%q: %q -> %q %q %v", name, v, disp, params["filename"], err)
		}
	})
}
