package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestErrorContract checks every status, code and header SPEC §3 promises, with an
// attacks section for each input boundary: paths, headers, JSON bodies, query
// parameters and credentials.
func TestErrorContract(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	readTok := e.token("acme", "reader", "read")
	e.put(tok, "exists.txt", []byte("x"))

	long := strings.Repeat("a", 256)
	huge := []byte(`{"path":"` + strings.Repeat("a", 70<<10) + `"}`)
	type tc struct {
		name   string
		r      req
		status int
		code   protocol.Code
		hdr    map[string]string // expected response headers
	}
	W := tok
	cases := []tc{
		// happy paths without auth
		{name: "healthz", r: req{method: "GET", path: "/healthz"}, status: 200},
		{name: "readyz", r: req{method: "GET", path: "/readyz"}, status: 200},
		{name: "jwks", r: req{method: "GET", path: "/.well-known/jwks.json"}, status: 200},

		// credentials
		{name: "no token", r: req{method: "GET", path: "/api/list"}, status: 401, code: "unauthenticated",
			hdr: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}},
		{name: "garbage token", r: req{method: "GET", path: "/api/list", token: "not.a.jwt"}, status: 401, code: "unauthenticated",
			hdr: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}},
		{name: "read role cannot write", r: req{method: "PUT", path: "/api/files/r.txt", body: []byte("r"), token: readTok}, status: 403, code: "forbidden"},
		{name: "read role cannot delete", r: req{method: "DELETE", path: "/api/files/exists.txt", token: readTok}, status: 403, code: "forbidden"},
		{name: "attack: token in query", r: req{method: "GET", path: "/api/list?token=abc", token: W}, status: 400, code: "bad_request"},
		{name: "attack: access_token in query", r: req{method: "GET", path: "/api/list?access_token=abc"}, status: 400, code: "bad_request"},

		// routes
		{name: "unknown route", r: req{method: "GET", path: "/api/nope", token: W}, status: 404, code: "not_found"},
		{name: "wrong method", r: req{method: "PATCH", path: "/api/files/exists.txt", token: W}, status: 405, code: "bad_request"},
		{name: "missing file", r: req{method: "GET", path: "/api/files/missing.txt", token: W}, status: 404, code: "not_found"},
		{name: "move of missing path", r: req{method: "POST", path: "/api/move", body: []byte(`{"from":"missing.txt","to":"b.txt"}`), token: W}, status: 404, code: "not_found"},
		{name: "delete of missing path", r: req{method: "DELETE", path: "/api/files/missing.txt", token: W}, status: 404, code: "not_found"},
		{name: "list of missing dir", r: req{method: "GET", path: "/api/list?path=nodir", token: W}, status: 404, code: "not_found"},
		{name: "list of a file", r: req{method: "GET", path: "/api/list?path=exists.txt", token: W}, status: 404, code: "not_found"},
		{name: "changes beyond head", r: req{method: "GET", path: "/api/changes?since=999", token: W}, status: 410, code: "resync_required"},

		// attacks: paths
		{name: "attack: empty path", r: req{method: "PUT", path: "/api/files/", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: dot-dot", r: req{method: "GET", path: "/api/files/../etc/passwd", token: W}, status: 400, code: "invalid_path"},
		{name: "attack: encoded dot-dot", r: req{method: "GET", path: "/api/files/%2e%2e/etc/passwd", token: W}, status: 400, code: "invalid_path"},
		{name: "attack: encoded dot-dot mid path", r: req{method: "PUT", path: "/api/files/a/%2E%2E/%2e%2e/x", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: encoded slash dot-dot", r: req{method: "PUT", path: "/api/files/a%2f..%2fx", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: dot segment", r: req{method: "PUT", path: "/api/files/./x", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: empty segment", r: req{method: "PUT", path: "/api/files/a//x", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: leading slash", r: req{method: "PUT", path: "/api/files//etc/x", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: backslash", r: req{method: "PUT", path: "/api/files/a%5c..%5cx", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: NUL", r: req{method: "PUT", path: "/api/files/a%00b", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: control char", r: req{method: "PUT", path: "/api/files/a%07b", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: invalid UTF-8", r: req{method: "PUT", path: "/api/files/a%ffb", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: bidi override", r: req{method: "PUT", path: "/api/files/%E2%80%AEtxt.exe", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: windows reserved", r: req{method: "PUT", path: "/api/files/dir/con.txt", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: windows char", r: req{method: "PUT", path: "/api/files/a%3Ab", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: trailing dot", r: req{method: "PUT", path: "/api/files/name.", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: .syncspace", r: req{method: "PUT", path: "/api/files/a/.SyncSpace/state", body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: overlong segment", r: req{method: "PUT", path: "/api/files/" + long, body: []byte("x"), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: list dot-dot", r: req{method: "GET", path: "/api/list?path=..", token: W}, status: 400, code: "invalid_path"},
		{name: "attack: list encoded dot-dot", r: req{method: "GET", path: "/api/list?path=a%2F..%2F..", token: W}, status: 400, code: "invalid_path"},
		{name: "attack: versions no path", r: req{method: "GET", path: "/api/versions", token: W}, status: 400, code: "invalid_path"},
		{name: "attack: deleted dot-dot", r: req{method: "GET", path: "/api/deleted?path=../x", token: W}, status: 400, code: "invalid_path"},

		// attacks: upload headers
		{name: "attack: bad digest header", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"X-Content-SHA256": "xyz"}}, status: 400, code: "bad_request"},
		{name: "attack: bad client id", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"X-Sync-Client-Id": "bad id!"}}, status: 400, code: "bad_request"},
		{name: "attack: long client id", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"X-Sync-Client-Id": strings.Repeat("c", 65)}}, status: 400, code: "bad_request"},
		{name: "attack: bad client id on delete", r: req{method: "DELETE", path: "/api/files/exists.txt", token: W, hdr: map[string]string{"X-Sync-Client-Id": "a/b"}}, status: 400, code: "bad_request"},
		{name: "attack: bad X-Modified", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"X-Modified": "yesterday"}}, status: 400, code: "bad_request"},
		{name: "attack: weak If-Match never matches", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"If-Match": `W/"abc"`}}, status: 412, code: "precondition_failed"},
		{name: "attack: quoted non-hash If-Match never matches", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"If-Match": `"abc"`}}, status: 412, code: "precondition_failed"},
		{name: "attack: unterminated If-Match", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"If-Match": `"abc`}}, status: 400, code: "bad_request"},
		{name: "attack: If-None-Match tag on upload", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"If-None-Match": `"abc"`}}, status: 400, code: "bad_request"},
		{name: "attack: gzip upload", r: req{method: "PUT", path: "/api/files/h.txt", body: []byte("x"), token: W, hdr: map[string]string{"Content-Encoding": "gzip"}}, status: 415, code: "unsupported_media_type"},
		{name: "attack: bad delete If-Match", r: req{method: "DELETE", path: "/api/files/exists.txt", token: W, hdr: map[string]string{"If-Match": "nope"}}, status: 400, code: "bad_request"},

		// attacks: JSON bodies
		{name: "attack: broken JSON", r: req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: JSON array", r: req{method: "POST", path: "/api/mkdir", body: []byte(`["a"]`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: unknown field", r: req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"a","mode":"0777"}`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: trailing data", r: req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"a"}{"path":"b"}`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: wrong type", r: req{method: "POST", path: "/api/move", body: []byte(`{"from":1,"to":2}`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: huge JSON", r: req{method: "POST", path: "/api/mkdir", body: huge, token: W}, status: 413, code: "too_large"},
		{name: "attack: huge chunked JSON", r: req{method: "POST", path: "/api/mkdir", body: huge, token: W, noLen: true}, status: 413, code: "too_large"},
		{name: "attack: gzip JSON", r: req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"a"}`), token: W, hdr: map[string]string{"Content-Encoding": "gzip"}}, status: 415, code: "unsupported_media_type"},
		{name: "attack: mkdir bad path", r: req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":"../a"}`), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: mkdir without path", r: req{method: "POST", path: "/api/mkdir", body: []byte(`{}`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: mkdir empty path", r: req{method: "POST", path: "/api/mkdir", body: []byte(`{"path":""}`), token: W}, status: 400, code: "invalid_path"},
		{name: "attack: move without to", r: req{method: "POST", path: "/api/move", body: []byte(`{"from":"a"}`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: restore without path", r: req{method: "POST", path: "/api/restore", body: []byte(`{"version":"v"}`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: move of an existing file without to", r: req{method: "POST", path: "/api/move", body: []byte(`{"from":"exists.txt"}`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: move bad if_match", r: req{method: "POST", path: "/api/move", body: []byte(`{"from":"exists.txt","to":"b","if_match":"zz"}`), token: W}, status: 400, code: "bad_request"},
		{name: "attack: restore without version", r: req{method: "POST", path: "/api/restore", body: []byte(`{"path":"exists.txt"}`), token: W}, status: 400, code: "bad_request"},

		// attacks: query parameters
		{name: "attack: negative since", r: req{method: "GET", path: "/api/changes?since=-1", token: W}, status: 400, code: "bad_request"},
		{name: "attack: since not a number", r: req{method: "GET", path: "/api/changes?since=1e3", token: W}, status: 400, code: "bad_request"},
		{name: "attack: since overflow", r: req{method: "GET", path: "/api/changes?since=99999999999999999999", token: W}, status: 400, code: "bad_request"},
		{name: "attack: bad limit", r: req{method: "GET", path: "/api/changes?limit=lots", token: W}, status: 400, code: "bad_request"},
		{name: "attack: repeated since", r: req{method: "GET", path: "/api/changes?since=1&since=2", token: W}, status: 400, code: "bad_request"},
		{name: "attack: bad recursive", r: req{method: "GET", path: "/api/list?recursive=maybe", token: W}, status: 400, code: "bad_request"},
		{name: "attack: bad if_seq", r: req{method: "DELETE", path: "/api/files/exists.txt?if_seq=x", token: W}, status: 400, code: "bad_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.do(c.r)
			if a.status != c.status {
				t.Fatalf("status %d, want %d: %s", a.status, c.status, a.body)
			}
			if c.code != "" {
				if got := a.code(); got != c.code {
					t.Fatalf("code %q, want %q: %s", got, c.code, a.body)
				}
				var b map[string]map[string]string
				if err := json.Unmarshal(a.body, &b); err != nil || b["error"]["message"] == "" {
					t.Fatalf("error body %q", a.body)
				}
				if ct := a.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("error Content-Type %q", ct)
				}
			}
			for k, v := range c.hdr {
				if got := a.hdr.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			checkCommonHeaders(t, a.hdr)
		})
	}
	// Nothing of the refused writes reached the store.
	l := e.list(tok, "?recursive=true")
	if len(l.Entries) != 1 || l.Entries[0].Path != "exists.txt" {
		t.Fatalf("refused requests changed the tree: %+v", l.Entries)
	}
	if got := e.get(tok, "exists.txt"); string(got) != "x" {
		t.Fatalf("exists.txt changed: %q", got)
	}
}

func checkCommonHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Cache-Control":          "private, no-cache",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

// TestPercentDecodedOnce: a double-encoded dot-dot is the literal name "%2e%2e" after
// the one decoding, a valid name that stays inside the tenant.
func TestPercentDecodedOnce(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	a := e.do(req{method: "PUT", path: "/api/files/d/%252e%252e/x.txt", body: []byte("lit"), token: tok})
	if a.status != 201 {
		t.Fatalf("PUT: %d %s", a.status, a.body)
	}
	var m protocol.Metadata
	a.json(t, &m)
	if m.Path != "d/%2e%2e/x.txt" {
		t.Fatalf("path %q, want the literal once-decoded name", m.Path)
	}
	// An encoded space and a UTF-8 name round-trip; NFD input answers NFC.
	a = e.do(req{method: "PUT", path: "/api/files/caf%65%CC%81%20menu.txt", body: []byte("nfd"), token: tok})
	if a.status != 201 {
		t.Fatalf("PUT NFD: %d %s", a.status, a.body)
	}
	a.json(t, &m)
	if m.Path != "caf\u00e9 menu.txt" {
		t.Fatalf("NFD path answered as %q", m.Path)
	}
	if got := e.get(tok, "caf%C3%A9%20menu.txt"); string(got) != "nfd" {
		t.Fatalf("NFC GET: %q", got)
	}
}

// TestExpectContinue: a refused upload answers before the body is sent; an accepted
// one gets 100 Continue.
func TestExpectContinue(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("small", tenants.Options{Quota: 100}, "write")
	send := func(path string, length int, sendBody bool) (string, string) {
		conn, err := net.Dial("tcp", e.d.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := "PUT " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Length: " + itoa(int64(length)) + "\r\nExpect: 100-continue\r\n\r\n"
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		first := string(buf[:n])
		if !sendBody {
			return first, ""
		}
		if _, err := conn.Write(bytes.Repeat([]byte("b"), length)); err != nil {
			t.Fatal(err)
		}
		var rest bytes.Buffer
		for !strings.Contains(rest.String(), "}") {
			n, err := conn.Read(buf)
			rest.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return first, rest.String()
	}
	first, _ := send("/api/files/big.bin", 1<<20, false)
	if !strings.HasPrefix(first, "HTTP/1.1 413") || !strings.Contains(first, "quota_exceeded") {
		t.Fatalf("over-quota answer %q", first)
	}
	first, _ = send("/api/files/%2e%2e/x", 10, false)
	if !strings.HasPrefix(first, "HTTP/1.1 400") {
		t.Fatalf("bad path answer %q", first)
	}
	first, rest := send("/api/files/ok.bin", 10, true)
	if !strings.HasPrefix(first, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q", first)
	}
	if !strings.Contains(first+rest, "HTTP/1.1 201") {
		t.Fatalf("accepted upload answer %q", first+rest)
	}
}
