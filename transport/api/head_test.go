package api_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/tenants"
)

// boundary matches a multipart boundary, random per answer.
var boundary = regexp.MustCompile(`boundary=[0-9a-f]+`)

// sameHeaders fails unless HEAD answered as GET did: same status, same headers (Date
// and the multipart boundary aside) and no body.
func sameHeaders(t *testing.T, what string, g, h answer) {
	t.Helper()
	if h.status != g.status {
		t.Fatalf("%s: HEAD %d, GET %d", what, h.status, g.status)
	}
	if len(h.body) != 0 {
		t.Fatalf("%s: HEAD sent a body of %d bytes", what, len(h.body))
	}
	norm := func(hd http.Header) http.Header {
		c := hd.Clone()
		c.Del("Date")
		if v := c.Get("Content-Type"); v != "" {
			c.Set("Content-Type", boundary.ReplaceAllString(v, "boundary=B"))
		}
		return c
	}
	gh, hh := norm(g.hdr), norm(h.hdr)
	if g.status == http.StatusNotFound {
		// The error handler answers HEAD without a body, hence without these.
		gh.Del("Content-Type")
		gh.Del("Content-Length")
	}
	for k := range gh {
		if fmt.Sprint(gh[k]) != fmt.Sprint(hh[k]) {
			t.Errorf("%s: header %s: GET %q, HEAD %q", what, k, gh[k], hh[k])
		}
	}
	for k := range hh {
		if _, ok := gh[k]; !ok {
			t.Errorf("%s: header %s only in HEAD: %q", what, k, hh[k])
		}
	}
}

// TestHeadMatchesGet: HEAD answers from the index entry without opening the file;
// its headers must be those of GET, for plain, ranged and conditional requests, and
// after every kind of write to the path.
func TestHeadMatchesGet(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, auth.RoleWrite)
	const p = "docs/a.txt"

	check := func(stage string) {
		t.Helper()
		etag := e.do(req{method: "GET", path: "/api/files/" + p, token: tok}).hdr.Get("Etag")
		future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
		for _, hdr := range []map[string]string{
			nil,
			{"Range": "bytes=0-9"},
			{"Range": "bytes=5-"},
			{"Range": "bytes=0-1,4-5"},
			{"Range": "bytes=999999-"},
			{"If-None-Match": etag},
			{"If-None-Match": `"other"`},
			{"If-Match": `"other"`},
			{"If-Modified-Since": future},
			{"If-Range": etag, "Range": "bytes=1-3"},
			{"If-Range": `"other"`, "Range": "bytes=1-3"},
		} {
			g := e.do(req{method: "GET", path: "/api/files/" + p, token: tok, hdr: hdr})
			h := e.do(req{method: "HEAD", path: "/api/files/" + p, token: tok, hdr: hdr})
			sameHeaders(t, fmt.Sprintf("%s %v", stage, hdr), g, h)
		}
	}

	e.put(tok, p, []byte("first version, some bytes"))
	check("created")
	m := e.put(tok, p, []byte("second, longer version of the file"))
	check("replaced")
	h := e.do(req{method: "HEAD", path: "/api/files/" + p, token: tok})
	if h.hdr.Get("Etag") != `"`+m.Hash+`"` || h.hdr.Get("Content-Length") != strconv.FormatInt(m.Size, 10) {
		t.Fatalf("HEAD after replace: ETag %s length %s, want %s %d", h.hdr.Get("Etag"), h.hdr.Get("Content-Length"), m.Hash, m.Size)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/" + p, token: tok}); a.status != 200 {
		t.Fatalf("DELETE: %d %s", a.status, a.body)
	}
	check("deleted")
	if h := e.do(req{method: "HEAD", path: "/api/files/" + p, token: tok}); h.status != http.StatusNotFound {
		t.Fatalf("HEAD after delete: %d", h.status)
	}
	e.put(tok, p+"/inner.txt", []byte("a directory now"))
	check("directory")
	if h := e.do(req{method: "HEAD", path: "/api/files/" + p, token: tok}); h.status != http.StatusNotFound {
		t.Fatalf("HEAD of a directory: %d", h.status)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/" + p + "?recursive=true", token: tok}); a.status != 200 {
		t.Fatalf("DELETE dir: %d %s", a.status, a.body)
	}
	e.put(tok, p, []byte("third"))
	check("re-created")
	a := e.do(req{method: "POST", path: "/api/move", token: tok,
		body: []byte(`{"from":"docs","to":"moved"}`), hdr: map[string]string{"Content-Type": "application/json"}})
	if a.status != 200 {
		t.Fatalf("move: %d %s", a.status, a.body)
	}
	check("moved away")
	if h := e.do(req{method: "HEAD", path: "/api/files/moved/a.txt", token: tok}); h.status != 200 || h.hdr.Get("Content-Length") != "5" {
		t.Fatalf("HEAD at the new place: %d length %q", h.status, h.hdr.Get("Content-Length"))
	}
}

// TestHeadRacingWrites: while writers replace a file with contents of different
// sizes, a HEAD never answers a size that is not its ETag's, nor a seq older than
// the last write that returned before it was sent (run with -race).
func TestHeadRacingWrites(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, auth.RoleWrite)
	const p = "race.bin"
	sizeOf := sync.Map{} // ETag → size
	var lastSeq atomic.Int64
	write := func(i int) {
		content := bytes.Repeat([]byte{byte(i)}, 1+i%97)
		sizeOf.Store(`"`+sum(content)+`"`, len(content))
		m := e.put(tok, p, content)
		for {
			old := lastSeq.Load()
			if m.Seq <= old || lastSeq.CompareAndSwap(old, m.Seq) {
				break
			}
		}
	}
	write(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1 + w; ; i += 2 {
				select {
				case <-stop:
					return
				default:
				}
				write(i)
			}
		}()
	}
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := lastSeq.Load()
				h := e.do(req{method: "HEAD", path: "/api/files/" + p, token: tok})
				if h.status != 200 {
					errs <- fmt.Errorf("HEAD: %d", h.status)
					return
				}
				seq, _ := strconv.ParseInt(h.hdr.Get("X-Sync-Seq"), 10, 64)
				if seq < floor {
					errs <- fmt.Errorf("HEAD answered seq %d after a write of seq %d returned", seq, floor)
					return
				}
				size, ok := sizeOf.Load(h.hdr.Get("Etag"))
				if !ok || strconv.Itoa(size.(int)) != h.hdr.Get("Content-Length") {
					errs <- fmt.Errorf("HEAD: ETag %s with length %s (written: %v)", h.hdr.Get("Etag"), h.hdr.Get("Content-Length"), size)
					return
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDownloadBytes: the bytes of whole, ranged and multi-range GETs, for a small file
// (copied with the header) and a large one (sendfile), and for ranges on either side
// of the copy threshold: the download's own position tracking must never skew them.
func TestDownloadBytes(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, auth.RoleWrite)
	for _, size := range []int{3000, 200 << 10} {
		content := randomBytes(t, size)
		p := fmt.Sprintf("bytes-%d.bin", size)
		e.put(tok, p, content)
		if got := e.get(tok, p); !bytes.Equal(got, content) {
			t.Fatalf("%d: whole GET differs (%d bytes)", size, len(got))
		}
		for _, r := range [][2]int{{0, 9}, {100, size - 1}, {size - 20, size - 1}, {1, size / 2}} {
			a := e.do(req{method: "GET", path: "/api/files/" + p, token: tok,
				hdr: map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", r[0], r[1])}})
			if a.status != http.StatusPartialContent || !bytes.Equal(a.body, content[r[0]:r[1]+1]) {
				t.Fatalf("%d: range %v: %d, %d bytes", size, r, a.status, len(a.body))
			}
		}
		a := e.do(req{method: "GET", path: "/api/files/" + p, token: tok,
			hdr: map[string]string{"Range": fmt.Sprintf("bytes=0-4,%d-%d", size-5, size-1)}})
		want := [][]byte{content[:5], content[size-5:]}
		_, params, _ := mime.ParseMediaType(a.hdr.Get("Content-Type"))
		mr := multipart.NewReader(bytes.NewReader(a.body), params["boundary"])
		for i := 0; ; i++ {
			part, err := mr.NextPart()
			if err == io.EOF {
				if i != len(want) {
					t.Fatalf("%d: %d parts", size, i)
				}
				break
			}
			if err != nil {
				t.Fatalf("%d: part %d: %v", size, i, err)
			}
			got, _ := io.ReadAll(part)
			if i >= len(want) || !bytes.Equal(got, want[i]) {
				t.Fatalf("%d: part %d = %q", size, i, got)
			}
		}
	}
}
