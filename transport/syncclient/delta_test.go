package syncclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
)

func newTestClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Options{Server: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChunksChecksTheList(t *testing.T) {
	h := strings.Repeat("ab", 32)
	good := fmt.Sprintf(`{"hash":%q,"size":70000,"seq":7,"chunks":[[%q,20000],[%q,50000]]}`, h, h, h)
	cases := map[string]string{
		"sizes short":     fmt.Sprintf(`{"hash":%q,"size":70001,"seq":7,"chunks":[[%q,20000],[%q,50000]]}`, h, h, h),
		"sizes over":      fmt.Sprintf(`{"hash":%q,"size":60000,"seq":7,"chunks":[[%q,20000],[%q,50000]]}`, h, h, h),
		"zero chunk":      fmt.Sprintf(`{"hash":%q,"size":20000,"seq":7,"chunks":[[%q,20000],[%q,0]]}`, h, h, h),
		"huge chunk":      fmt.Sprintf(`{"hash":%q,"size":1000000,"seq":7,"chunks":[[%q,1000000]]}`, h, h),
		"negative":        fmt.Sprintf(`{"hash":%q,"size":10,"seq":7,"chunks":[[%q,20],[%q,-10]]}`, h, h, h),
		"bad chunk hash":  fmt.Sprintf(`{"hash":%q,"size":10,"seq":7,"chunks":[["zz",10]]}`, h),
		"bad file hash":   fmt.Sprintf(`{"hash":"x","size":10,"seq":7,"chunks":[[%q,10]]}`, h),
		"not json":        `{"hash":`,
		"object as chunk": fmt.Sprintf(`{"hash":%q,"size":10,"seq":7,"chunks":[{"h":1}]}`, h),
	}
	var body string
	var gotPath string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.EscapedPath()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	body = good
	list, err := c.Chunks(context.Background(), "a b/c.bin")
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/api/chunks/a%20b/c.bin" {
		t.Errorf("path %s", gotPath)
	}
	if list.Hash != h || list.Size != 70000 || list.Seq != 7 || len(list.Chunks) != 2 ||
		list.Chunks[1].Offset != 20000 || list.Chunks[1].Size != 50000 || hex.EncodeToString(list.Chunks[0].Hash[:]) != h {
		t.Fatalf("list %+v", list)
	}
	for name, b := range cases {
		body = b
		if _, err := c.Chunks(context.Background(), "f"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// rangeHandler serves content with http.ServeContent (as syncd does), with ETag
// "hash"; mangle, when set, rewrites the answer.
func rangeHandler(content []byte, hash string, mangle func(w http.ResponseWriter, r *http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mangle != nil && mangle(w, r) {
			return
		}
		w.Header().Set("ETag", `"`+hash+`"`)
		w.Header().Set("X-Sync-Seq", "42")
		http.ServeContent(w, r, "", time.Unix(1700000000, 0), bytes.NewReader(content))
	})
}

func collect(c *Client, hash string, ranges []engine.ByteRange) ([][]byte, protocol.Metadata, error) {
	var got [][]byte
	m, err := c.DownloadRanges(context.Background(), "f", hash, ranges, func(r engine.ByteRange, body io.Reader) error {
		b, err := io.ReadAll(body)
		got = append(got, b)
		return err
	})
	return got, m, err
}

func TestDownloadRanges(t *testing.T) {
	content := make([]byte, 100000)
	for i := range content {
		content[i] = byte(i * 7)
	}
	sum := sha256.Sum256(content)
	hash := hex.EncodeToString(sum[:])
	c := newTestClient(t, rangeHandler(content, hash, nil))
	for _, ranges := range [][]engine.ByteRange{
		{{Off: 10, Len: 5}},
		{{Off: 0, Len: 1}, {Off: 500, Len: 1000}, {Off: 99990, Len: 10}},
	} {
		got, m, err := collect(c, hash, ranges)
		if err != nil {
			t.Fatal(err)
		}
		if m.Hash != hash || m.Seq != 42 || m.Modified.IsZero() {
			t.Errorf("meta %+v", m)
		}
		for i, r := range ranges {
			if !bytes.Equal(got[i], content[r.Off:r.Off+r.Len]) {
				t.Errorf("range %+v: wrong bytes", r)
			}
		}
	}
	// If-Range with another hash: the server sends the whole content (200), which
	// is an error here, never taken for the range.
	if _, _, err := collect(c, strings.Repeat("0", 64), []engine.ByteRange{{Off: 0, Len: 10}}); err == nil {
		t.Fatal("a 200 answer was taken for ranges")
	}
}

func TestDownloadRangesHostileAnswers(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 1000)
	sum := sha256.Sum256(content)
	hash := hex.EncodeToString(sum[:])
	two := []engine.ByteRange{{Off: 0, Len: 10}, {Off: 100, Len: 10}}
	one := []engine.ByteRange{{Off: 100, Len: 10}}
	cases := map[string]struct {
		ranges []engine.ByteRange
		mangle func(w http.ResponseWriter, r *http.Request) bool
	}{
		"other range": {one, func(w http.ResponseWriter, r *http.Request) bool {
			r.Header.Set("Range", "bytes=0-9")
			return false
		}},
		"fewer parts": {two, func(w http.ResponseWriter, r *http.Request) bool {
			r.Header.Set("Range", "bytes=0-9,50-59,100-109")
			return false
		}},
		"more parts": {two, func(w http.ResponseWriter, r *http.Request) bool {
			r.Header.Set("Range", "bytes=0-9,100-109,200-209")
			return false
		}},
		"swapped parts": {two, func(w http.ResponseWriter, r *http.Request) bool {
			r.Header.Set("Range", "bytes=100-109,0-9")
			return false
		}},
		"longer part": {one, func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("ETag", `"`+hash+`"`)
			w.Header().Set("Content-Range", "bytes 100-109/10000")
			w.WriteHeader(http.StatusPartialContent)
			io.WriteString(w, "01234567890123")
			return true
		}},
		"shorter part": {one, func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("ETag", `"`+hash+`"`)
			w.Header().Set("Content-Range", "bytes 100-109/10000")
			w.WriteHeader(http.StatusPartialContent)
			io.WriteString(w, "0123")
			return true
		}},
		"other etag": {one, func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("ETag", `"`+strings.Repeat("1", 64)+`"`)
			w.Header().Set("Content-Range", "bytes 100-109/10000")
			w.WriteHeader(http.StatusPartialContent)
			io.WriteString(w, "0123456789")
			return true
		}},
		"one part for two": {two, func(w http.ResponseWriter, r *http.Request) bool {
			r.Header.Set("Range", "bytes=0-9")
			return false
		}},
		"416": {one, func(w http.ResponseWriter, r *http.Request) bool {
			r.Header.Set("Range", "bytes=999999-")
			return false
		}},
	}
	for name, tc := range cases {
		c := newTestClient(t, rangeHandler(content, hash, tc.mangle))
		got, _, err := collect(c, hash, tc.ranges)
		if err == nil {
			t.Errorf("%s: accepted (%q)", name, got)
		}
	}
}

func TestUploadDeltaRequest(t *testing.T) {
	var got *http.Request
	var body []byte
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"path":"d/f.bin","size":3,"hash":"`+strings.Repeat("c", 64)+`","seq":9}`)
	}))
	o := engine.UploadOptions{SHA256: strings.Repeat("c", 64), IfMatch: strings.Repeat("b", 64), ClientID: "cid", Modified: time.Unix(5, 0)}
	m, created, err := c.UploadDelta(context.Background(), "d/f.bin", io.NopCloser(strings.NewReader("ops")), o)
	if err != nil || created || m.Seq != 9 {
		t.Fatalf("meta %+v created %v err %v", m, created, err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/api/delta/d/f.bin" || string(body) != "ops" ||
		got.Header.Get("If-Match") != `"`+o.IfMatch+`"` || got.Header.Get("X-Content-SHA256") != o.SHA256 ||
		got.Header.Get("Content-Type") != delta.ContentType || got.Header.Get("X-Sync-Client-Id") != "cid" ||
		got.Header.Get("X-Modified") == "" {
		t.Fatalf("request %s %s %v len %d body %q", got.Method, got.URL, got.Header, got.ContentLength, body)
	}
	if _, _, err := c.UploadDelta(context.Background(), "f", io.NopCloser(strings.NewReader("x")), engine.UploadOptions{SHA256: o.SHA256}); err == nil {
		t.Fatal("a delta without a base hash was sent")
	}
}
