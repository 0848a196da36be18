package api_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/api"
)

// escapePath percent-encodes each segment of p for a raw request URI.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// tarEntry is one decoded archive entry.
type tarEntry struct {
	hdr  *tar.Header
	body []byte
}

// readTar decodes a whole archive answer, failing the test on a malformed one.
func readTar(t *testing.T, b []byte) map[string]tarEntry {
	t.Helper()
	out := map[string]tarEntry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("archive: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("archive entry %s: %v", h.Name, err)
		}
		if _, dup := out[h.Name]; dup {
			t.Fatalf("archive: %s twice", h.Name)
		}
		out[h.Name] = tarEntry{hdr: h, body: body}
	}
}

func TestArchive(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("a", tenants.Options{}, "write")
	readTok := e.token("a", "reader", "read")
	otherTok := e.tenant("b", tenants.Options{}, "write")

	files := map[string][]byte{
		"top.txt":               []byte("top"),
		"empty.bin":             {},
		"docs/a.txt":            []byte("alpha"),
		"docs/deep/b.txt":       bytes.Repeat([]byte("b"), 70<<10), // over one copy buffer
		"docs/ünïcødé €.txt":    []byte("unicode"),
		"docsx/not-in-docs.txt": []byte("sibling prefix"),
	}
	metas := map[string]protocol.Metadata{}
	for p, c := range files {
		metas[p] = e.put(tok, escapePath(p), c)
	}
	e.do(req{method: "POST", path: "/api/mkdir", token: tok, body: []byte(`{"path":"emptydir"}`)})
	e.put(otherTok, "docs/secret-of-b.txt", []byte("tenant b only"))

	// A file replaced on the server's disk by a symlink to something outside the
	// tenant's tree is never followed.
	secret := filepath.Join(t.TempDir(), "outside.txt")
	if err := os.WriteFile(secret, []byte("OUTSIDE SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.put(tok, "docs/link.txt", []byte("was a file"))
	link := filepath.Join(e.dir, "tenants", "a", "files", "docs", "link.txt")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, a answer, want []string) {
		t.Helper()
		if a.status != 200 {
			t.Fatalf("status %d %s", a.status, a.body)
		}
		for k, v := range map[string]string{
			"Content-Type":            api.MIMETar,
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "private, no-cache",
			"Content-Security-Policy": "sandbox",
		} {
			if got := a.hdr.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if !strings.HasPrefix(a.hdr.Get("Content-Disposition"), "attachment;") {
			t.Errorf("Content-Disposition = %q", a.hdr.Get("Content-Disposition"))
		}
		if a.hdr.Get("X-Sync-Epoch") == "" {
			t.Error("no X-Sync-Epoch")
		}
		if s, err := strconv.ParseInt(a.hdr.Get("X-Sync-Seq"), 10, 64); err != nil || s < int64(len(files)) {
			t.Errorf("X-Sync-Seq = %q", a.hdr.Get("X-Sync-Seq"))
		}
		got := readTar(t, a.body)
		if len(got) != len(want) {
			names := []string{}
			for n := range got {
				names = append(names, n)
			}
			t.Fatalf("entries %q, want %q", names, want)
		}
		for _, p := range want {
			en, ok := got[p]
			if !ok {
				t.Fatalf("entry %s missing", p)
			}
			h := en.hdr
			if !bytes.Equal(en.body, files[p]) {
				t.Errorf("%s: content differs", p)
			}
			if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Size != int64(len(files[p])) {
				t.Errorf("%s: type %c mode %o size %d", p, h.Typeflag, h.Mode, h.Size)
			}
			if c := h.PAXRecords["comment"]; c != protocol.ArchiveComment(metas[p].Hash, metas[p].Seq) || metas[p].Hash != sum(files[p]) {
				t.Errorf("%s: PAX comment %q, want hash %s seq %d", p, c, sum(files[p]), metas[p].Seq)
			}
			for k := range h.PAXRecords {
				switch k {
				case "comment", "path", "mtime", "size", "atime", "ctime", "uid", "gid", "uname", "gname":
				default: // GNU tar warns about every keyword it does not know
					t.Errorf("%s: PAX record %q is not a POSIX keyword", p, k)
				}
			}
			if !h.ModTime.Equal(metas[p].Modified) {
				t.Errorf("%s: mtime %v, want %v", p, h.ModTime, metas[p].Modified)
			}
		}
	}

	all := []string{"top.txt", "empty.bin", "docs/a.txt", "docs/deep/b.txt", "docs/ünïcødé €.txt", "docsx/not-in-docs.txt"}
	t.Run("root", func(t *testing.T) {
		check(t, e.do(req{method: "GET", path: "/api/archive", token: tok}), all)
	})
	t.Run("root explicit", func(t *testing.T) {
		check(t, e.do(req{method: "GET", path: "/api/archive?path=", token: tok}), all)
	})
	t.Run("read role", func(t *testing.T) {
		check(t, e.do(req{method: "GET", path: "/api/archive?path=docs", token: readTok}),
			[]string{"docs/a.txt", "docs/deep/b.txt", "docs/ünïcødé €.txt"})
	})
	t.Run("empty directory", func(t *testing.T) {
		check(t, e.do(req{method: "GET", path: "/api/archive?path=emptydir", token: tok}), nil)
	})

	// Attacks: every one is refused with its SPEC code, or (other tenant) sees only
	// its own files.
	attacks := []struct {
		name   string
		path   string
		token  string
		status int
		code   protocol.Code
	}{
		{"no token", "/api/archive", "", 401, protocol.CodeUnauthenticated},
		{"bad token", "/api/archive", "not.a.token", 401, protocol.CodeUnauthenticated},
		{"dotdot", "/api/archive?path=docs/../..", tok, 400, protocol.CodeInvalidPath},
		{"trailing slash (an empty segment)", "/api/archive?path=docs/deep/", tok, 400, protocol.CodeInvalidPath},
		{"leading slash", "/api/archive?path=/docs", tok, 400, protocol.CodeInvalidPath},
		{"absolute", "/api/archive?path=/etc", tok, 400, protocol.CodeInvalidPath},
		{"encoded dotdot", "/api/archive?path=%2e%2e", tok, 400, protocol.CodeInvalidPath},
		{"state dir", "/api/archive?path=.syncspace", tok, 400, protocol.CodeInvalidPath},
		{"backslash", "/api/archive?path=docs%5C..", tok, 400, protocol.CodeInvalidPath},
		{"nul", "/api/archive?path=docs%00", tok, 400, protocol.CodeInvalidPath},
		{"path twice", "/api/archive?path=docs&path=docsx", tok, 400, protocol.CodeBadRequest},
		{"missing dir", "/api/archive?path=nope", tok, 404, protocol.CodeNotFound},
		{"a file, not a dir", "/api/archive?path=top.txt", tok, 404, protocol.CodeNotFound},
		{"other tenant's dir", "/api/archive?path=docs/deep", otherTok, 404, protocol.CodeNotFound},
	}
	for _, at := range attacks {
		t.Run("attack/"+at.name, func(t *testing.T) {
			a := e.do(req{method: "GET", path: at.path, token: at.token})
			if a.status != at.status || a.code() != at.code {
				t.Fatalf("got %d %q %s, want %d %q", a.status, a.code(), a.body, at.status, at.code)
			}
			if at.status == 401 && !strings.Contains(a.hdr.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("WWW-Authenticate = %q", a.hdr.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("attack/other tenant sees only its own files", func(t *testing.T) {
		a := e.do(req{method: "GET", path: "/api/archive", token: otherTok})
		got := readTar(t, a.body)
		if len(got) != 1 || string(got["docs/secret-of-b.txt"].body) != "tenant b only" {
			t.Fatalf("tenant b's archive: %v", got)
		}
	})
	t.Run("attack/symlink on the server disk not followed", func(t *testing.T) {
		a := e.do(req{method: "GET", path: "/api/archive?path=docs", token: tok})
		if bytes.Contains(a.body, []byte("OUTSIDE SECRET")) {
			t.Fatal("the archive followed a symlink out of the tenant's tree")
		}
		if _, ok := readTar(t, a.body)["docs/link.txt"]; ok {
			t.Fatal("a symlink was archived")
		}
	})
	t.Run("attack/write method", func(t *testing.T) {
		a := e.do(req{method: "POST", path: "/api/archive", token: tok})
		if a.status != http.StatusMethodNotAllowed && a.status != http.StatusNotFound {
			t.Fatalf("POST: %d", a.status)
		}
	})
}

// TestArchiveManyFiles checks a tree larger than any buffer: every file once, in
// order, with its hash.
func TestArchiveManyFiles(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("a", tenants.Options{}, "write")
	const n = 300
	for i := 0; i < n; i++ {
		e.put(tok, fmt.Sprintf("d%d/f%03d.txt", i%7, i), []byte(fmt.Sprintf("content %d %s", i, strings.Repeat("x", i*13))))
	}
	a := e.do(req{method: "GET", path: "/api/archive", token: tok})
	got := readTar(t, a.body)
	if len(got) != n {
		t.Fatalf("%d entries, want %d", len(got), n)
	}
	for name, en := range got {
		if hash, _, ok := protocol.ArchiveEntryInfo(en.hdr.PAXRecords); !ok || sum(en.body) != hash {
			t.Fatalf("%s: content does not match its PAX hash", name)
		}
	}
}
