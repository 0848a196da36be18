package api_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants"
)

// TestXModifiedOutOfRangeChangesNothing (issue 11 item 9, SPEC §3): an X-Modified
// outside 1970-01-01..2262-04-11 is 400 bad_request, and what was stored (content,
// metadata, the file and its mtime on disk, the change log) stays as it was. Before
// the fix year 9999 was accepted and stored as 1901.
func TestXModifiedOutOfRangeChangesNothing(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	old := []byte("the stored content")
	a := e.do(req{method: "PUT", path: "/api/files/docs/h.txt", body: old, token: tok,
		hdr: map[string]string{"X-Content-SHA256": sum(old), "X-Modified": "2024-05-06T07:08:09Z"}})
	if a.status != 201 {
		t.Fatalf("first upload: %d %s", a.status, a.body)
	}
	onDisk := filepath.Join(e.dir, "tenants", "acme", "files", "docs", "h.txt")
	st0, err := os.Stat(onDisk)
	if err != nil {
		t.Fatal(err)
	}
	list0 := e.list(tok, "?recursive=true")

	for _, mod := range []string{
		"9999-12-31T23:59:59Z",
		"2262-04-12T00:00:00Z",
		"2262-04-11T23:47:16.854775808Z",
		"1969-12-31T23:59:59Z",
		"0001-01-01T00:00:00Z",
		"1970-01-01T01:00:00+02:00",
	} {
		for _, path := range []string{"docs/h.txt", "docs/new.txt"} {
			body := []byte("new content " + mod)
			a := e.do(req{method: "PUT", path: "/api/files/" + path, body: body, token: tok,
				hdr: map[string]string{"X-Content-SHA256": sum(body), "X-Modified": mod}})
			if a.status != 400 || a.code() != "bad_request" {
				t.Fatalf("X-Modified %s on %s: %d %s, want 400 bad_request", mod, path, a.status, a.body)
			}
		}
	}

	if got := e.get(tok, "docs/h.txt"); !bytes.Equal(got, old) {
		t.Fatalf("content now %q", got)
	}
	data, err := os.ReadFile(onDisk)
	if err != nil || !bytes.Equal(data, old) {
		t.Fatalf("file on disk now %q (%v)", data, err)
	}
	st1, err := os.Stat(onDisk)
	if err != nil || !st1.ModTime().Equal(st0.ModTime()) || st1.ModTime().Year() != 2024 {
		t.Fatalf("mtime on disk %v, was %v (%v)", st1.ModTime(), st0.ModTime(), err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "tenants", "acme", "files", "docs", "new.txt")); !os.IsNotExist(err) {
		t.Fatalf("refused new file exists on disk: %v", err)
	}
	list1 := e.list(tok, "?recursive=true")
	if list1.Seq != list0.Seq || len(list1.Entries) != len(list0.Entries) {
		t.Fatalf("listing changed: seq %d -> %d, %d -> %d entries", list0.Seq, list1.Seq, len(list0.Entries), len(list1.Entries))
	}
	for i := range list0.Entries {
		b, a := list0.Entries[i], list1.Entries[i]
		if b.Path != a.Path || b.Hash != a.Hash || b.Seq != a.Seq || !b.Modified.Equal(a.Modified) {
			t.Fatalf("entry changed: %+v -> %+v", b, a)
		}
	}
	want := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, m := range list1.Entries {
		if m.Path == "docs/h.txt" && !m.Modified.Equal(want) {
			t.Fatalf("stored modified %v, want %v", m.Modified, want)
		}
	}

	// The bounds themselves are accepted and stored as sent.
	for _, mod := range []string{"1970-01-01T00:00:00Z", "2262-04-11T23:47:16Z"} {
		body := []byte("edge " + mod)
		a := e.do(req{method: "PUT", path: "/api/files/edge.txt", body: body, token: tok,
			hdr: map[string]string{"X-Content-SHA256": sum(body), "X-Modified": mod}})
		if a.status != 200 && a.status != 201 {
			t.Fatalf("X-Modified %s: %d %s", mod, a.status, a.body)
		}
		wantT, _ := time.Parse(time.RFC3339, mod)
		var got bool
		for _, m := range e.list(tok, "").Entries {
			if m.Path == "edge.txt" {
				got = m.Modified.Equal(wantT)
				if !got {
					t.Fatalf("X-Modified %s stored as %v", mod, m.Modified)
				}
			}
		}
		if !got {
			t.Fatalf("edge.txt missing after X-Modified %s", mod)
		}
	}
}
