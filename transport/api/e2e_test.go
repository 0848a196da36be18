package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrips(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	for _, size := range []int{0, 1, 10 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			content := randomBytes(t, size)
			p := fmt.Sprintf("round/%d.bin", size)
			a := e.do(req{method: "PUT", path: "/api/files/" + p, body: content, token: tok,
				hdr: map[string]string{"X-Content-SHA256": sum(content), "X-Sync-Client-Id": "client-1", "X-Modified": "2024-05-06T07:08:09Z"}})
			if a.status != http.StatusCreated {
				t.Fatalf("PUT: %d %s", a.status, a.body)
			}
			var m protocol.Metadata
			a.json(t, &m)
			if m.Path != p || m.Size != int64(size) || m.Hash != sum(content) || m.IsDirectory || m.Seq == 0 {
				t.Fatalf("meta %+v", m)
			}
			if !m.Modified.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)) {
				t.Errorf("modified %v, want X-Modified", m.Modified)
			}
			g := e.do(req{method: "GET", path: "/api/files/" + p, token: tok})
			if g.status != 200 || !bytes.Equal(g.body, content) || sum(g.body) != m.Hash {
				t.Fatalf("GET: %d, %d bytes, equal=%v", g.status, len(g.body), bytes.Equal(g.body, content))
			}
			if got := g.hdr.Get("Etag"); got != `"`+m.Hash+`"` {
				t.Errorf("ETag %q", got)
			}
			if got := g.hdr.Get("X-Sync-Seq"); got != itoa(m.Seq) {
				t.Errorf("X-Sync-Seq %q, want %d", got, m.Seq)
			}
			if g.hdr.Get("Last-Modified") != "Mon, 06 May 2024 07:08:09 GMT" {
				t.Errorf("Last-Modified %q", g.hdr.Get("Last-Modified"))
			}
			h := e.do(req{method: "HEAD", path: "/api/files/" + p, token: tok})
			if h.status != 200 || len(h.body) != 0 || h.hdr.Get("Content-Length") != itoa(int64(size)) {
				t.Fatalf("HEAD: %d len=%q body=%d", h.status, h.hdr.Get("Content-Length"), len(h.body))
			}
			// Same content again: 200, nothing changes.
			before := e.allChanges(tok)
			a = e.do(req{method: "PUT", path: "/api/files/" + p, body: content, token: tok})
			if a.status != http.StatusOK {
				t.Fatalf("identical PUT: %d %s", a.status, a.body)
			}
			if after := e.allChanges(tok); after.Seq != before.Seq {
				t.Fatalf("identical PUT made an event: seq %d → %d", before.Seq, after.Seq)
			}
		})
	}
	// The event of an upload carries the client id and the subject.
	ch := e.allChanges(tok)
	checkGapless(t, ch.Events)
	if ev := ch.Events[0]; ev.SourceClient != "client-1" || ev.SourceSubject != "tester" {
		t.Errorf("event source %q/%q", ev.SourceClient, ev.SourceSubject)
	}
}

func TestRangeAndConditionalGet(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	content := []byte("0123456789abcdef")
	m := e.put(tok, "r.txt", content)
	etag := `"` + m.Hash + `"`

	a := e.do(req{method: "GET", path: "/api/files/r.txt", token: tok, hdr: map[string]string{"Range": "bytes=2-5"}})
	if a.status != http.StatusPartialContent || string(a.body) != "2345" || a.hdr.Get("Content-Range") != "bytes 2-5/16" {
		t.Fatalf("range: %d %q %q", a.status, a.body, a.hdr.Get("Content-Range"))
	}
	a = e.do(req{method: "GET", path: "/api/files/r.txt", token: tok, hdr: map[string]string{"Range": "bytes=-3"}})
	if a.status != http.StatusPartialContent || string(a.body) != "def" {
		t.Fatalf("suffix range: %d %q", a.status, a.body)
	}
	// Errors net/http's ServeContent finds itself are SPEC §3 errors too: JSON body,
	// Cache-Control, and for 416 the Content-Range naming the size.
	for _, c := range []struct {
		name   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"unsatisfiable range", map[string]string{"Range": "bytes=100-200"}, http.StatusRequestedRangeNotSatisfiable, "bad_request"},
		{"If-Match another hash", map[string]string{"If-Match": `"other"`}, http.StatusPreconditionFailed, "precondition_failed"},
		{"If-Unmodified-Since long ago", map[string]string{"If-Unmodified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"}, http.StatusPreconditionFailed, "precondition_failed"},
	} {
		a = e.do(req{method: "GET", path: "/api/files/r.txt", token: tok, hdr: c.hdr})
		var body struct {
			Error struct{ Code, Message string }
		}
		if a.status != c.status || json.Unmarshal(a.body, &body) != nil || body.Error.Code != c.code {
			t.Fatalf("%s: %d %q", c.name, a.status, a.body)
		}
		if a.hdr.Get("Cache-Control") != "private, no-cache" || !strings.HasPrefix(a.hdr.Get("Content-Type"), "application/json") || a.hdr.Get("Etag") != "" {
			t.Errorf("%s: headers %v", c.name, a.hdr)
		}
		if c.status == http.StatusRequestedRangeNotSatisfiable && a.hdr.Get("Content-Range") != "bytes */16" {
			t.Errorf("%s: Content-Range %q", c.name, a.hdr.Get("Content-Range"))
		}
	}
	a = e.do(req{method: "GET", path: "/api/files/r.txt", token: tok, hdr: map[string]string{"If-None-Match": etag}})
	if a.status != http.StatusNotModified || len(a.body) != 0 {
		t.Fatalf("If-None-Match: %d", a.status)
	}
	a = e.do(req{method: "GET", path: "/api/files/r.txt", token: tok, hdr: map[string]string{"If-None-Match": `"other"`}})
	if a.status != 200 {
		t.Fatalf("If-None-Match other: %d", a.status)
	}
	a = e.do(req{method: "GET", path: "/api/files/r.txt", token: tok, hdr: map[string]string{"Range": "bytes=0-1", "If-Range": etag}})
	if a.status != http.StatusPartialContent || string(a.body) != "01" {
		t.Fatalf("If-Range match: %d %q", a.status, a.body)
	}
	a = e.do(req{method: "GET", path: "/api/files/r.txt", token: tok, hdr: map[string]string{"Range": "bytes=0-1", "If-Range": `"stale"`}})
	if a.status != 200 || !bytes.Equal(a.body, content) {
		t.Fatalf("If-Range stale: %d %q", a.status, a.body)
	}
	for _, h := range []string{"Content-Disposition", "Content-Security-Policy"} {
		if a.hdr.Get(h) == "" {
			t.Errorf("download lacks %s", h)
		}
	}
	if !strings.HasPrefix(a.hdr.Get("Content-Disposition"), "attachment") || a.hdr.Get("Content-Security-Policy") != "sandbox" {
		t.Errorf("download headers %q %q", a.hdr.Get("Content-Disposition"), a.hdr.Get("Content-Security-Policy"))
	}
}

func TestUploadPreconditions(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	old := []byte("old content")
	m := e.put(tok, "p.txt", old)
	wrong := sum([]byte("something else"))

	cases := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"If-Match wrong hash", "p.txt", map[string]string{"If-Match": `"` + wrong + `"`}, 412},
		{"If-Match on missing path", "missing.txt", map[string]string{"If-Match": `"` + m.Hash + `"`}, 412},
		{"If-Match star on missing path", "missing.txt", map[string]string{"If-Match": "*"}, 412},
		{"If-None-Match star on existing", "p.txt", map[string]string{"If-None-Match": "*"}, 412},
		{"If-Match right hash", "p.txt", map[string]string{"If-Match": `"` + m.Hash + `"`}, 200},
		{"If-None-Match star on new", "new.txt", map[string]string{"If-None-Match": "*"}, 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.do(req{method: "PUT", path: "/api/files/" + c.path, body: []byte("new " + c.name), token: tok, hdr: c.hdr})
			if a.status != c.status {
				t.Fatalf("status %d, want %d: %s", a.status, c.status, a.body)
			}
			if c.status == 412 && a.code() != protocol.CodePreconditionFailed {
				t.Fatalf("code %q", a.code())
			}
		})
	}
	if got := e.get(tok, "p.txt"); string(got) != "new If-Match right hash" {
		t.Fatalf("content %q", got)
	}
	// DELETE honours If-Match and if_seq.
	cur := e.put(tok, "d/x.txt", []byte("x"))
	if a := e.do(req{method: "DELETE", path: "/api/files/d/x.txt", token: tok, hdr: map[string]string{"If-Match": `"` + wrong + `"`}}); a.status != 412 {
		t.Fatalf("DELETE If-Match wrong: %d", a.status)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/d?recursive=true&if_seq=" + itoa(cur.Seq-1), token: tok}); a.status != 412 {
		t.Fatalf("DELETE dir stale if_seq: %d %s", a.status, a.body)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/d", token: tok}); a.status != 409 {
		t.Fatalf("DELETE non-empty dir without recursive: %d %s", a.status, a.body)
	}
	a := e.do(req{method: "DELETE", path: "/api/files/d?recursive=true&if_seq=" + itoa(cur.Seq), token: tok})
	if a.status != 200 {
		t.Fatalf("DELETE dir: %d %s", a.status, a.body)
	}
	var ds struct{ Seq int64 }
	a.json(t, &ds)
	if ds.Seq <= cur.Seq {
		t.Fatalf("delete seq %d", ds.Seq)
	}
	if a := e.do(req{method: "GET", path: "/api/files/d/x.txt", token: tok}); a.status != 404 || a.code() != protocol.CodeNotFound {
		t.Fatalf("GET after delete: %d", a.status)
	}
}

func TestDigestMismatchKeepsOldContent(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	old := []byte("the old content")
	e.put(tok, "f.txt", old)
	before := e.allChanges(tok)
	for _, noLen := range []bool{false, true} {
		a := e.do(req{method: "PUT", path: "/api/files/f.txt", body: []byte("new content"), token: tok, noLen: noLen,
			hdr: map[string]string{"X-Content-SHA256": sum([]byte("not this"))}})
		if a.status != 422 || a.code() != protocol.CodeDigestMismatch {
			t.Fatalf("status %d code %q", a.status, a.code())
		}
		a = e.do(req{method: "PUT", path: "/api/files/fresh.txt", body: []byte("new content"), token: tok, noLen: noLen,
			hdr: map[string]string{"X-Content-SHA256": sum([]byte("not this"))}})
		if a.status != 422 {
			t.Fatalf("new file: status %d", a.status)
		}
	}
	if got := e.get(tok, "f.txt"); !bytes.Equal(got, old) {
		t.Fatalf("content changed to %q", got)
	}
	if a := e.do(req{method: "GET", path: "/api/files/fresh.txt", token: tok}); a.status != 404 {
		t.Fatalf("failed new upload left a file: %d", a.status)
	}
	if after := e.allChanges(tok); after.Seq != before.Seq {
		t.Fatalf("failed uploads made events")
	}
}

func TestQuotaAndLimits(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("small", tenants.Options{Quota: 1000, MaxFileSize: 800, MaxEntries: 3}, "write")
	big := randomBytes(t, 900)
	for _, noLen := range []bool{false, true} {
		a := e.do(req{method: "PUT", path: "/api/files/big.bin", body: big, token: tok, noLen: noLen})
		if a.status != 413 || (a.code() != protocol.CodeTooLarge && a.code() != protocol.CodeQuotaExceeded) {
			t.Fatalf("over max file size (noLen=%v): %d %s", noLen, a.status, a.body)
		}
	}
	e.put(tok, "a.bin", randomBytes(t, 600))
	for _, noLen := range []bool{false, true} {
		a := e.do(req{method: "PUT", path: "/api/files/b.bin", body: randomBytes(t, 500), token: tok, noLen: noLen})
		if a.status != 413 || a.code() != protocol.CodeQuotaExceeded {
			t.Fatalf("over quota (noLen=%v): %d %s", noLen, a.status, a.body)
		}
	}
	l := e.list(tok, "?recursive=true")
	if len(l.Entries) != 1 || l.Entries[0].Path != "a.bin" {
		t.Fatalf("failed uploads left entries: %+v", l.Entries)
	}
	var u protocol.Usage
	e.do(req{method: "GET", path: "/api/usage", token: tok}).json(t, &u)
	if u.Used != 600 || u.Quota != 1000 || u.Entries != 1 || u.MaxEntries != 3 {
		t.Fatalf("usage %+v", u)
	}
	e.put(tok, "c.bin", []byte("c"))
	e.put(tok, "d.bin", []byte("d"))
	if a := e.do(req{method: "PUT", path: "/api/files/e.bin", body: []byte("e"), token: tok}); a.status != 413 {
		t.Fatalf("over max_entries: %d %s", a.status, a.body)
	}
	if a := e.do(req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"dir"}`), token: tok}); a.status != 413 {
		t.Fatalf("mkdir over max_entries: %d %s", a.status, a.body)
	}
}

func TestConcurrentUploadsOnePath(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	const n = 12
	contents := make([][]byte, n)
	for i := range contents {
		contents[i] = randomBytes(t, 64<<10+i)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := e.do(req{method: "PUT", path: "/api/files/same.bin", body: contents[i], token: tok,
				hdr: map[string]string{"X-Content-SHA256": sum(contents[i])}})
			if a.status != 200 && a.status != 201 {
				t.Errorf("upload %d: %d %s", i, a.status, a.body)
			}
		}()
	}
	wg.Wait()
	got := e.get(tok, "same.bin")
	found := false
	for _, c := range contents {
		found = found || bytes.Equal(got, c)
	}
	if !found {
		t.Fatalf("final content (%d bytes) is none of the uploads", len(got))
	}
	ch := e.allChanges(tok)
	checkGapless(t, ch.Events)
	if len(ch.Events) != n {
		t.Fatalf("%d events for %d distinct uploads", len(ch.Events), n)
	}
	last := ch.Events[len(ch.Events)-1].Operation.Meta()
	if last.Hash != sum(got) {
		t.Fatalf("last event hash %s is not the final content's", last.Hash)
	}
	creates := 0
	for _, ev := range ch.Events {
		if ev.Operation.Create != nil {
			creates++
		}
	}
	if creates != 1 {
		t.Fatalf("%d Create events, want 1", creates)
	}
}

func TestChangesFeed(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	e.put(tok, "a/1.txt", []byte("1"))
	e.put(tok, "a/2.txt", []byte("2"))
	e.put(tok, "a/1.txt", []byte("1b"))
	if a := e.do(req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"b"}`), token: tok}); a.status != 201 {
		t.Fatalf("mkdir: %d %s", a.status, a.body)
	}
	if a := e.do(req{method: "POST", path: "/api/move", body: []byte(`{"from":"a/2.txt","to":"b/2.txt"}`), token: tok}); a.status != 200 {
		t.Fatalf("move: %d %s", a.status, a.body)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/a/1.txt", token: tok}); a.status != 200 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	ch := e.allChanges(tok)
	checkGapless(t, ch.Events)
	kinds := []string{}
	for _, ev := range ch.Events {
		kinds = append(kinds, ev.Operation.Kind())
	}
	if want := "Create Create Update Create Move Delete"; strings.Join(kinds, " ") != want {
		t.Fatalf("kinds %v, want %s", kinds, want)
	}
	if mv := ch.Events[4].Operation.Move; mv.From != "a/2.txt" || mv.Metadata.Path != "b/2.txt" {
		t.Fatalf("move event %+v", mv)
	}
	// since is exclusive; seq is the last returned event's; limit pages.
	var p protocol.ChangesPage
	e.do(req{method: "GET", path: "/api/changes?since=2&limit=2", token: tok}).json(t, &p)
	if len(p.Events) != 2 || p.Events[0].Seq != 3 || p.Seq != 4 || !p.More || p.Epoch != ch.Epoch {
		t.Fatalf("page %+v", p)
	}
	e.do(req{method: "GET", path: "/api/changes?since=6", token: tok}).json(t, &p)
	if len(p.Events) != 0 || p.Seq != 6 || p.More || p.Events == nil {
		t.Fatalf("empty page %+v", p)
	}
	// The list at N equals the events applied.
	l := e.list(tok, "?recursive=true")
	if l.Seq != 6 || l.Epoch != ch.Epoch {
		t.Fatalf("list head %d %q", l.Seq, l.Epoch)
	}
	paths := []string{}
	for _, m := range l.Entries {
		paths = append(paths, m.Path)
	}
	if strings.Join(paths, ",") != "a,b,b/2.txt" {
		t.Fatalf("list %v", paths)
	}
	if a := e.do(req{method: "GET", path: "/api/changes?since=0&epoch=not-the-epoch", token: tok}); a.status != 410 || a.code() != protocol.CodeResyncRequired {
		t.Fatalf("wrong epoch: %d %s", a.status, a.body)
	}
	e.do(req{method: "GET", path: "/api/changes?since=0&epoch=" + ch.Epoch + "&limit=20000", token: tok}).json(t, &p)
	if len(p.Events) != 6 {
		t.Fatalf("limit over max: %d events", len(p.Events))
	}
}

func TestVersionsDeletedRestore(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	v1, v2 := []byte("version one"), []byte("version two")
	e.put(tok, "docs/r.txt", v1)
	e.put(tok, "docs/r.txt", v2)
	var vs struct {
		Path     string             `json:"path"`
		Versions []protocol.Version `json:"versions"`
	}
	e.do(req{method: "GET", path: "/api/versions?path=docs/r.txt", token: tok}).json(t, &vs)
	if vs.Path != "docs/r.txt" || len(vs.Versions) != 1 || vs.Versions[0].Hash != sum(v1) {
		t.Fatalf("versions %+v", vs)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/docs/r.txt", token: tok}); a.status != 200 {
		t.Fatalf("delete: %d", a.status)
	}
	var del struct {
		Path    string                 `json:"path"`
		Entries []tenants.DeletedEntry `json:"entries"`
	}
	e.do(req{method: "GET", path: "/api/deleted?path=docs", token: tok}).json(t, &del)
	if len(del.Entries) != 1 || del.Entries[0].Path != "docs/r.txt" || del.Entries[0].Version == "" {
		t.Fatalf("deleted %+v", del)
	}
	a := e.do(req{method: "POST", path: "/api/restore", token: tok,
		body: []byte(`{"path":"docs/r.txt","version":"` + del.Entries[0].Version + `"}`)})
	if a.status != 200 {
		t.Fatalf("restore: %d %s", a.status, a.body)
	}
	var m protocol.Metadata
	a.json(t, &m)
	if m.Path != "docs/r.txt" || m.Hash != sum(v2) {
		t.Fatalf("restored meta %+v", m)
	}
	if got := e.get(tok, "docs/r.txt"); !bytes.Equal(got, v2) {
		t.Fatalf("restored content %q", got)
	}
	// Restore an older version to another path.
	a = e.do(req{method: "POST", path: "/api/restore", token: tok,
		body: []byte(`{"path":"docs/r.txt","version":"` + vs.Versions[0].ID + `","to":"docs/r-old.txt"}`)})
	if a.status != 200 {
		t.Fatalf("restore to: %d %s", a.status, a.body)
	}
	if got := e.get(tok, "docs/r-old.txt"); !bytes.Equal(got, v1) {
		t.Fatalf("restored-to content %q", got)
	}
	if a := e.do(req{method: "POST", path: "/api/restore", token: tok, body: []byte(`{"path":"docs/r.txt","version":"nope"}`)}); a.status != 404 && a.status != 400 {
		t.Fatalf("restore of unknown version: %d %s", a.status, a.body)
	}
	checkGapless(t, e.allChanges(tok).Events)
}

func TestMkdirMove(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	a := e.do(req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"x/y"}`), token: tok, hdr: map[string]string{"Content-Type": "application/json"}})
	if a.status != 201 {
		t.Fatalf("mkdir: %d %s", a.status, a.body)
	}
	var m protocol.Metadata
	a.json(t, &m)
	if !m.IsDirectory || m.Path != "x/y" || m.Hash != "" {
		t.Fatalf("mkdir meta %+v", m)
	}
	if a := e.do(req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"x/y"}`), token: tok}); a.status != 200 {
		t.Fatalf("mkdir existing: %d", a.status)
	}
	f := e.put(tok, "x/f.txt", []byte("f"))
	if a := e.do(req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"x/f.txt"}`), token: tok}); a.status != 409 {
		t.Fatalf("mkdir on a file: %d", a.status)
	}
	if a := e.do(req{method: "PUT", path: "/api/files/x/f.txt/under", body: []byte("u"), token: tok}); a.status != 409 {
		t.Fatalf("PUT under a file: %d", a.status)
	}
	if a := e.do(req{method: "PUT", path: "/api/files/X/F.TXT", body: []byte("u"), token: tok}); a.status != 409 || a.code() != protocol.CodeConflict {
		t.Fatalf("case collision: %d %s", a.status, a.body)
	}
	wrong := sum([]byte("zz"))
	if a := e.do(req{method: "POST", path: "/api/move", body: []byte(`{"from":"x/f.txt","to":"x/g.txt","if_match":"` + wrong + `"}`), token: tok}); a.status != 412 {
		t.Fatalf("move if_match wrong: %d", a.status)
	}
	e.put(tok, "x/h.txt", []byte("h"))
	if a := e.do(req{method: "POST", path: "/api/move", body: []byte(`{"from":"x/f.txt","to":"x/h.txt"}`), token: tok}); a.status != 409 {
		t.Fatalf("move onto existing: %d", a.status)
	}
	a = e.do(req{method: "POST", path: "/api/move", body: []byte(`{"from":"x/f.txt","to":"z/g.txt","if_match":"` + f.Hash + `"}`), token: tok})
	if a.status != 200 {
		t.Fatalf("move: %d %s", a.status, a.body)
	}
	a.json(t, &m)
	if m.Path != "z/g.txt" || m.Hash != f.Hash || m.Size != 1 {
		t.Fatalf("move meta %+v", m)
	}
	if got := e.get(tok, "z/g.txt"); string(got) != "f" {
		t.Fatalf("moved content %q", got)
	}
	// A move may change only the case of a name.
	if a := e.do(req{method: "POST", path: "/api/move", body: []byte(`{"from":"z/g.txt","to":"z/G.txt"}`), token: tok}); a.status != 200 {
		t.Fatalf("case-only move: %d %s", a.status, a.body)
	}
}

func TestTenantIsolation(t *testing.T) {
	e := startDaemon(t, nil)
	ta := e.tenant("tenant-a", tenants.Options{}, "write")
	tb := e.tenant("tenant-b", tenants.Options{}, "write")
	e.put(ta, "secret/plan.txt", []byte("A's secret"))
	e.put(ta, "secret/plan.txt", []byte("A's secret v2"))

	l := e.list(tb, "?recursive=true")
	if len(l.Entries) != 0 || l.Seq != 0 {
		t.Fatalf("B lists A's files: %+v", l)
	}
	for _, p := range []string{"/api/files/secret/plan.txt", "/api/list?path=secret", "/api/deleted?path=secret"} {
		a := e.do(req{method: "GET", path: p, token: tb})
		if a.status == 200 && strings.Contains(string(a.body), "plan") || strings.Contains(string(a.body), "secret v2") {
			t.Fatalf("B sees A through %s: %d %s", p, a.status, a.body)
		}
		if strings.HasPrefix(p, "/api/files") && a.status != 404 {
			t.Fatalf("B GET A's file: %d", a.status)
		}
	}
	var vs struct {
		Versions []protocol.Version `json:"versions"`
	}
	if a := e.do(req{method: "GET", path: "/api/versions?path=secret/plan.txt", token: tb}); a.status == 200 {
		a.json(t, &vs)
		if len(vs.Versions) != 0 {
			t.Fatalf("B sees A's versions")
		}
	} else if a.status != 404 {
		t.Fatalf("B versions: %d", a.status)
	}
	// A sees its own version, so the check above is not vacuous.
	e.do(req{method: "GET", path: "/api/versions?path=secret/plan.txt", token: ta}).json(t, &vs)
	if len(vs.Versions) != 1 {
		t.Fatalf("A's versions: %+v", vs)
	}
	if ch := e.allChanges(tb); len(ch.Events) != 0 {
		t.Fatalf("B sees A's changes: %+v", ch.Events)
	}
	// B writing the same path does not touch A's file.
	e.put(tb, "secret/plan.txt", []byte("B's own"))
	if got := e.get(ta, "secret/plan.txt"); string(got) != "A's secret v2" {
		t.Fatalf("A's file changed by B: %q", got)
	}
	var u protocol.Usage
	e.do(req{method: "GET", path: "/api/usage", token: tb}).json(t, &u)
	if u.Used != int64(len("B's own")) {
		t.Fatalf("B's usage counts A: %+v", u)
	}
}

func TestReadOnlyServer(t *testing.T) {
	dir := t.TempDir()
	e := startDaemon(t, map[string]any{
		"routes": []any{map[string]any{
			"match":  []any{map[string]any{"matcher": "path", "paths": []string{"/api/*", "/ws"}}},
			"handle": []any{map[string]any{"handler": "file_sync", "root": dir, "enable_upload": false}},
		}},
		"data_dir": nil,
	})
	tok := e.tenant("acme", tenants.Options{}, "write")
	writes := []req{
		{method: "PUT", path: "/api/files/a.txt", body: []byte("a")},
		{method: "DELETE", path: "/api/files/a.txt"},
		{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"d"}`)},
		{method: "POST", path: "/api/move", body: []byte(`{"from":"a","to":"b"}`)},
		{method: "POST", path: "/api/restore", body: []byte(`{"path":"a","version":"v"}`)},
	}
	for _, w := range writes {
		w.token = tok
		if a := e.do(w); a.status != 403 || a.code() != protocol.CodeForbidden {
			t.Errorf("%s %s on read-only server: %d %s", w.method, w.path, a.status, a.body)
		}
	}
	if a := e.do(req{method: "GET", path: "/api/list", token: tok}); a.status != 200 {
		t.Errorf("list on read-only server: %d", a.status)
	}
	if a := e.do(req{method: "PUT", path: "/api/files/a.txt", body: []byte("a")}); a.status != 401 {
		t.Errorf("unauthenticated write on read-only server: %d", a.status)
	}
}

// TestDeletedStreamsPages: GET /api/deleted over more entries than one page of the
// store (256) keeps the answer's shape: every deleted path once, by path, with the
// requested path; an empty answer is still {"path","entries":[]}.
func TestDeletedStreamsPages(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	const n = 300
	for i := range n {
		e.put(tok, fmt.Sprintf("many/f%03d", i), []byte{byte(i)})
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/many?recursive=true", token: tok}); a.status != 200 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	var del struct {
		Path    *string                `json:"path"`
		Entries []tenants.DeletedEntry `json:"entries"`
	}
	a := e.do(req{method: "GET", path: "/api/deleted?path=many", token: tok})
	if a.status != 200 {
		t.Fatalf("deleted: %d %s", a.status, a.body)
	}
	a.json(t, &del)
	if del.Path == nil || *del.Path != "many" || len(del.Entries) != n {
		t.Fatalf("deleted: path %v, %d entries, want many and %d", del.Path, len(del.Entries), n)
	}
	for i, d := range del.Entries {
		if want := fmt.Sprintf("many/f%03d", i); d.Path != want || d.Version == "" || d.Hash != sum([]byte{byte(i)}) || d.DeletedAt.IsZero() {
			t.Fatalf("entry %d: %+v, want %s with its version", i, d, want)
		}
	}
	if a := e.do(req{method: "GET", path: "/api/deleted?path=none", token: tok}); a.status != 200 || string(a.body) != `{"path":"none","entries":[]}`+"\n" {
		t.Fatalf("empty: %d %q", a.status, a.body)
	}
}
