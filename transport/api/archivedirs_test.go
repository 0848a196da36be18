package api_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/api"
)

// TestArchiveDirs: GET /api/archive?dirs=1 is the listing with content: the entries of
// GET /api/list?recursive=true in the same order (directories as tar directory
// entries with their seq, files with their content), the same epoch and seq, and
// X-Archive-Dirs: 1. Without dirs=1 neither directories nor the header.
func TestArchiveDirs(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("a", tenants.Options{}, "write")
	for _, p := range []string{"top.txt", "docs/a.txt", "docs/deep/b.txt", "docsx/c.txt"} {
		e.put(tok, p, []byte("content of "+p))
	}
	e.do(req{method: "POST", path: "/api/mkdir", token: tok, body: []byte(`{"path":"emptydir"}`)})

	type entry struct {
		m    protocol.Metadata
		body string
	}
	read := func(t *testing.T, a answer) []entry {
		t.Helper()
		if a.status != 200 {
			t.Fatalf("status %d %s", a.status, a.body)
		}
		var out []entry
		tr := tar.NewReader(bytes.NewReader(a.body))
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			hash, seq, ok := protocol.ArchiveEntryInfo(h.PAXRecords)
			if !ok {
				t.Fatalf("%s: no comment record", h.Name)
			}
			b, _ := io.ReadAll(tr)
			m := protocol.Metadata{Path: h.Name, Hash: hash, Seq: seq, Size: h.Size, Modified: h.ModTime.UTC()}
			switch h.Typeflag {
			case tar.TypeDir:
				if h.Name[len(h.Name)-1] != '/' || hash != "" || h.Size != 0 || h.Mode != 0o755 {
					t.Fatalf("directory entry %+v", h)
				}
				m.Path, m.IsDirectory = h.Name[:len(h.Name)-1], true
			case tar.TypeReg:
			default:
				t.Fatalf("%s: type %c", h.Name, h.Typeflag)
			}
			out = append(out, entry{m, string(b)})
		}
	}

	for _, dir := range []string{"", "docs"} {
		q := ""
		if dir != "" {
			q = "&path=" + dir
		}
		a := e.do(req{method: "GET", path: "/api/archive?dirs=1" + q, token: tok})
		if a.hdr.Get(api.HeaderArchiveDirs) != "1" {
			t.Fatalf("%q: X-Archive-Dirs = %q", dir, a.hdr.Get(api.HeaderArchiveDirs))
		}
		got := read(t, a)
		l := e.list(tok, "?recursive=true"+q)
		if a.hdr.Get("X-Sync-Epoch") != l.Epoch || a.hdr.Get("X-Sync-Seq") != strconv.FormatInt(l.Seq, 10) {
			t.Fatalf("%q: head %s/%s, listing %s/%d", dir, a.hdr.Get("X-Sync-Epoch"), a.hdr.Get("X-Sync-Seq"), l.Epoch, l.Seq)
		}
		if len(got) != len(l.Entries) {
			t.Fatalf("%q: %d entries, the listing %d: %+v", dir, len(got), len(l.Entries), got)
		}
		for i, w := range l.Entries {
			g := got[i].m
			if g.Path != w.Path || g.IsDirectory != w.IsDirectory || g.Hash != w.Hash || g.Seq != w.Seq ||
				!g.Modified.Equal(w.Modified) || !w.IsDirectory && (g.Size != w.Size || got[i].body != "content of "+w.Path) {
				t.Fatalf("%q: entry %d is %+v, the listing's %+v", dir, i, g, w)
			}
		}
		if dir == "" && (len(got) != 8 || !got[2].m.IsDirectory || got[2].m.Path != "docs/deep") {
			t.Fatalf("root: %+v", got)
		}
	}

	// A token limited to docs/deep: the root's archive shows only the directories the
	// scope shows (its ancestors, itself), exactly as the listing does.
	scoped, _, err := e.d.Auth().IssueTenant(t.Context(), auth.TenantTokenRequest{Tenant: "a", Subject: "s", Role: auth.RoleRead, TTL: time.Hour, Paths: []string{"docs/deep"}})
	if err != nil {
		t.Fatal(err)
	}
	sa := e.do(req{method: "GET", path: "/api/archive?dirs=1", token: scoped})
	sl := e.list(scoped, "?recursive=true")
	sg := read(t, sa)
	if len(sg) != len(sl.Entries) || len(sg) != 3 {
		t.Fatalf("scoped: %+v, the listing %+v", sg, sl.Entries)
	}
	for i, w := range sl.Entries {
		if g := sg[i].m; g.Path != w.Path || g.IsDirectory != w.IsDirectory || g.Seq != w.Seq {
			t.Fatalf("scoped: entry %d is %+v, the listing's %+v", i, g, w)
		}
	}

	for _, q := range []string{"", "?dirs=0", "?dirs=false", "?path=docs"} {
		a := e.do(req{method: "GET", path: "/api/archive" + q, token: tok})
		if a.hdr.Get(api.HeaderArchiveDirs) != "" {
			t.Fatalf("%q: X-Archive-Dirs = %q", q, a.hdr.Get(api.HeaderArchiveDirs))
		}
		for _, en := range read(t, a) {
			if en.m.IsDirectory {
				t.Fatalf("%q: directory entry %s", q, en.m.Path)
			}
		}
	}
	for _, q := range []string{"?dirs=yes", "?dirs=1&dirs=1", "?dirs=%zz"} {
		if a := e.do(req{method: "GET", path: "/api/archive" + q, token: tok}); a.status != 400 || a.code() != protocol.CodeBadRequest {
			t.Fatalf("%q: %d %s", q, a.status, a.body)
		}
	}
}
