package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkMeta checks one metadata object: exact keys, hash lowercase hex ("" for
// directories), modified UTC RFC 3339.
func checkMeta(t testing.TB, raw json.RawMessage) meta {
	t.Helper()
	checkKeys(t, "metadata", raw, metaKeys...)
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.IsDirectory && m.Hash != "" || !m.IsDirectory && !hexRE.MatchString(m.Hash) {
		t.Errorf("metadata hash %q (dir %v)", m.Hash, m.IsDirectory)
	}
	if ts, err := time.Parse(time.RFC3339Nano, m.Modified); err != nil || !strings.HasSuffix(m.Modified, "Z") || ts.IsZero() {
		t.Errorf("modified %q is not UTC RFC 3339", m.Modified)
	}
	return m
}

// SPEC §3: unauthenticated routes, JWKS shape, and the common headers on every answer.
func TestHTTPPublicRoutesAndHeaders(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	tn.put(t, "h/x.bin", "<html><script>alert(1)</script>")
	u := e.d.URL()
	for _, p := range []string{"/healthz", "/readyz", "/.well-known/jwks.json"} {
		expectStatus(t, do(t, req{url: u + p}), 200)
		// SPEC §2: a token in the query is refused on every route.
		expectErr(t, do(t, req{url: u + p + "?access_token=x"}), 400, "bad_request")
		expectStatus(t, do(t, req{method: "HEAD", url: u + p}), 200)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	do(t, req{url: u + "/.well-known/jwks.json"}).json(t, &jwks)
	if len(jwks.Keys) == 0 {
		t.Fatal("JWKS has no keys")
	}
	for _, k := range jwks.Keys {
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["kid"] == nil || k["x"] == nil || k["d"] != nil {
			t.Errorf("JWKS key %v: want OKP Ed25519 public key with kid", k)
		}
	}
	// The signing kid of an issued token is in the JWKS.
	kid := jwtHeader(t, tn.read)["kid"]
	found := false
	for _, k := range jwks.Keys {
		found = found || k["kid"] == kid
	}
	if !found {
		t.Errorf("token kid %v not in JWKS", kid)
	}

	xff := map[string]string{"X-Forwarded-For": fakeClient()}
	cases := []struct {
		name string
		q    req
	}{
		{"healthz", req{url: u + "/healthz"}},
		{"list", req{url: u + "/api/list", token: tn.read}},
		{"download", req{url: u + "/api/files/h/x.bin", token: tn.read}},
		{"head", req{method: "HEAD", url: u + "/api/files/h/x.bin", token: tn.read}},
		{"404", req{url: u + "/api/files/nope", token: tn.read}},
		{"401", req{url: u + "/api/list", hdr: xff}},
		{"admin", req{url: u + "/admin/tenants", token: e.ops}},
		{"unknown route", req{url: u + "/nope"}},
	}
	for _, c := range cases {
		r := do(t, c.q)
		if got := r.hdr.Get("Cache-Control"); got != "private, no-cache" {
			t.Errorf("%s: Cache-Control %q", c.name, got)
		}
		if got := r.hdr.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.name, got)
		}
		if got := r.hdr.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", c.name, got)
		}
	}
	for _, c := range cases[2:4] {
		r := do(t, c.q)
		if cd := r.hdr.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Errorf("%s: Content-Disposition %q", c.name, cd)
		}
		if csp := r.hdr.Get("Content-Security-Policy"); csp != "sandbox" {
			t.Errorf("%s: Content-Security-Policy %q", c.name, csp)
		}
	}
	// Token-bearing answers: no-store.
	r := e.adminDo(t, "POST", "/admin/tokens", fmt.Sprintf(`{"tenant":%q,"subject":"x","role":"read","ttl":"1h"}`, tn.name))
	if got := r.hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("POST /admin/tokens Cache-Control %q, want no-store", got)
	}
	r = e.adminDo(t, "GET", "/admin/tokens?tenant="+tn.name, "")
	if got := r.hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("GET /admin/tokens Cache-Control %q, want no-store", got)
	}
	// Unknown routes are JSON errors.
	expectErr(t, do(t, req{url: u + "/nope"}), 404, "not_found")
}

// SPEC §2/§3: how tokens are accepted and refused over HTTP.
func TestHTTPAuthentication(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	u := e.d.URL()
	list := u + "/api/list"
	raw := func(hdr http.Header, rawURL string) resp {
		r, _ := http.NewRequest("GET", rawURL, nil)
		r.Header = hdr
		r.Header.Set("X-Forwarded-For", fakeClient())
		res, err := httpClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b [4096]byte
		n, _ := res.Body.Read(b[:])
		return resp{status: res.StatusCode, hdr: res.Header, body: b[:n]}
	}
	// Scheme case-insensitive.
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		expectStatus(t, raw(http.Header{"Authorization": {scheme + " " + tn.read}}, list), 200)
	}
	cases := []struct {
		name   string
		hdr    http.Header
		url    string
		status int
		code   string
	}{
		{"no token", http.Header{}, list, 401, "unauthenticated"},
		{"garbage token", http.Header{"Authorization": {"Bearer abc.def.ghi"}}, list, 401, "unauthenticated"},
		{"basic scheme", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, list, 401, "unauthenticated"},
		{"two Authorization headers", http.Header{"Authorization": {"Bearer " + tn.read, "Bearer " + tn.read}}, list, 400, "bad_request"},
		{"token query parameter", http.Header{"Authorization": {"Bearer " + tn.read}}, list + "?token=" + tn.read, 400, "bad_request"},
		{"access_token query parameter", http.Header{}, list + "?access_token=x", 400, "bad_request"},
		{"jwt query parameter", http.Header{}, list + "?jwt=x", 400, "bad_request"},
		{"ops token on /api", http.Header{"Authorization": {"Bearer " + e.ops}}, list, 403, "forbidden"},
		{"tenant admin token on /admin", http.Header{"Authorization": {"Bearer " + tn.admin}}, u + "/admin/tenants", 403, "forbidden"},
		{"tenant token on /metrics", http.Header{"Authorization": {"Bearer " + tn.admin}}, u + "/metrics", 403, "forbidden"},
		{"no token on /metrics", http.Header{}, u + "/metrics", 401, "unauthenticated"},
		{"token over 4 KiB", http.Header{"Authorization": {"Bearer " + strings.Repeat("a", 4097)}}, list, 401, "unauthenticated"},
		{"tampered signature", http.Header{"Authorization": {"Bearer " + tn.read[:len(tn.read)-4] + "AAAA"}}, list, 401, "unauthenticated"},
		{"cookie is no credential", http.Header{"Cookie": {"token=" + tn.read}}, list, 401, "unauthenticated"},
	}
	for _, c := range cases {
		r := raw(c.hdr, c.url)
		if r.status != c.status || r.errCode() != c.code {
			t.Errorf("%s: want %d %s, got %v", c.name, c.status, c.code, r)
			continue
		}
		if c.status == 401 && r.hdr.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Errorf("%s: WWW-Authenticate %q", c.name, r.hdr.Get("WWW-Authenticate"))
		}
		if strings.Contains(string(r.body), tn.read) {
			t.Errorf("%s: token echoed back", c.name)
		}
	}
	// Roles: read cannot write.
	for _, q := range []req{
		{method: "PUT", url: u + "/api/files/r.txt", body: []byte("x")},
		{method: "DELETE", url: u + "/api/files/r.txt"},
		{method: "POST", url: u + "/api/mkdir", body: []byte(`{"path":"d"}`)},
		{method: "POST", url: u + "/api/move", body: []byte(`{"from":"a","to":"b"}`)},
		{method: "POST", url: u + "/api/restore", body: []byte(`{"path":"a","version":"v"}`)},
	} {
		q.token = tn.read
		expectErr(t, do(t, q), 403, "forbidden")
	}
	// Tokens never land in the log.
	if strings.Contains(e.d.stderr.String(), tn.read) {
		t.Errorf("a token was logged")
	}
}

// SPEC §2: failed authentications are limited per address: 429 with Retry-After; a
// token that verifies is never refused; X-Forwarded-For only from trusted proxies.
func TestHTTPAuthRateLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDaemon(t, startOpts{umask: -1, dir: dir, config: `{"listen":"127.0.0.1:0","data_dir":"data"}`, dataDir: "data"})
	mustCtl(t, "--data", d.dataDir, "tenant", "create", "rl")
	tok := strings.TrimSpace(mustCtl(t, "--data", d.dataDir, "token", "issue", "--tenant", "rl", "--subject", "s", "--role", "read").stdout)
	var last resp
	for i := 0; i < 40; i++ {
		// A spoofed X-Forwarded-For from an untrusted peer must not spread the failures.
		last = do(t, req{url: d.URL() + "/api/list", token: "bad.token.here", hdr: map[string]string{"X-Forwarded-For": fakeClient()}})
		if last.status == 429 {
			break
		}
	}
	expectErr(t, last, 429, "rate_limited")
	if n, err := strconv.Atoi(last.hdr.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q", last.hdr.Get("Retry-After"))
	}
	expectStatus(t, do(t, req{url: d.URL() + "/api/list", token: tok}), 200)
	// WebSocket upgrades from the limited address are refused too, before the upgrade.
	if _, res, err := dialRaw(d.URL(), "bad", nil); err == nil || res == nil || res.StatusCode != 429 {
		t.Errorf("limited address upgrade: %v %v", err, res)
	}
	// The valid token still upgrades.
	dialWS(t, d.URL(), tok, nil)
}

// SPEC §3: list, upload, download, delete, mkdir, move shapes and status codes.
func TestHTTPFileRoutes(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	u := e.d.URL()
	W := tn.write

	// Empty list: epoch, seq 0, entries [].
	r := tn.api(t, "GET", "/api/list", tn.read, nil, nil)
	f := r.fields(t)
	checkKeys(t, "list", r.body, "epoch", "seq", "entries")
	if string(f["seq"]) != "0" || string(f["entries"]) != "[]" {
		t.Errorf("empty list %s", r.body)
	}

	// PUT creates parents: 201 then 200; identical content: 200, no new seq.
	r = tn.api(t, "PUT", "/api/files/a/b/c.txt", W, []byte("one"), map[string]string{"X-Modified": "2021-02-03T04:05:06Z", "X-Sync-Client-Id": "client-A"})
	expectStatus(t, r, 201)
	m := checkMeta(t, r.body)
	if m.Path != "a/b/c.txt" || m.Size != 3 || m.Hash != sha("one") || m.Seq != 1 || m.Modified != "2021-02-03T04:05:06Z" {
		t.Errorf("PUT meta %+v", m)
	}
	if r.hdr.Get("ETag") != `"`+sha("one")+`"` {
		t.Errorf("PUT ETag %q", r.hdr.Get("ETag"))
	}
	r = tn.api(t, "PUT", "/api/files/a/b/c.txt", W, []byte("two"), nil)
	expectStatus(t, r, 200)
	if m := checkMeta(t, r.body); m.Seq != 2 {
		t.Errorf("update seq %d", m.Seq)
	}
	r = tn.api(t, "PUT", "/api/files/a/b/c.txt", W, []byte("two"), nil)
	expectStatus(t, r, 200)
	if m := checkMeta(t, r.body); m.Seq != 2 {
		t.Errorf("no-op PUT made seq %d", m.Seq)
	}

	// Recursive list includes the created parents, with full paths.
	var l struct {
		Epoch   string            `json:"epoch"`
		Seq     int64             `json:"seq"`
		Entries []json.RawMessage `json:"entries"`
	}
	tn.api(t, "GET", "/api/list?recursive=true", tn.read, nil, nil).json(t, &l)
	var paths []string
	for _, raw := range l.Entries {
		paths = append(paths, checkMeta(t, raw).Path)
	}
	if strings.Join(paths, ",") != "a,a/b,a/b/c.txt" || l.Seq != 2 || l.Epoch == "" {
		t.Errorf("recursive list: seq %d paths %v", l.Seq, paths)
	}
	tn.api(t, "GET", "/api/list", tn.read, nil, nil).json(t, &l)
	if len(l.Entries) != 1 {
		t.Errorf("non-recursive root list has %d entries, want 1 (a)", len(l.Entries))
	}
	tn.api(t, "GET", "/api/list?path=a/b", tn.read, nil, nil).json(t, &l)
	if len(l.Entries) != 1 || !strings.Contains(string(l.Entries[0]), `"a/b/c.txt"`) {
		t.Errorf("list path=a/b: %s", l.Entries)
	}
	expectErr(t, tn.api(t, "GET", "/api/list?path=nope", tn.read, nil, nil), 404, "not_found")
	expectErr(t, tn.api(t, "GET", "/api/list?recursive=maybe", tn.read, nil, nil), 400, "bad_request")

	// Download headers, Range, If-Range, If-None-Match, HEAD.
	r = tn.api(t, "GET", "/api/files/a/b/c.txt", tn.read, nil, nil)
	expectStatus(t, r, 200)
	if string(r.body) != "two" || r.hdr.Get("ETag") != `"`+sha("two")+`"` || r.hdr.Get("X-Sync-Seq") != "2" || r.hdr.Get("Last-Modified") == "" {
		t.Errorf("download: %q ETag %q X-Sync-Seq %q Last-Modified %q", r.body, r.hdr.Get("ETag"), r.hdr.Get("X-Sync-Seq"), r.hdr.Get("Last-Modified"))
	}
	r = tn.api(t, "GET", "/api/files/a/b/c.txt", tn.read, nil, map[string]string{"Range": "bytes=1-"})
	if r.status != 206 || string(r.body) != "wo" {
		t.Errorf("Range: %v", r)
	}
	r = tn.api(t, "GET", "/api/files/a/b/c.txt", tn.read, nil, map[string]string{"Range": "bytes=1-", "If-Range": `"` + sha("old") + `"`})
	if r.status != 200 || string(r.body) != "two" {
		t.Errorf("If-Range with a stale ETag: %v", r)
	}
	r = tn.api(t, "GET", "/api/files/a/b/c.txt", tn.read, nil, map[string]string{"If-None-Match": `"` + sha("two") + `"`})
	if r.status != 304 || len(r.body) != 0 {
		t.Errorf("If-None-Match: %v", r)
	}
	r = tn.api(t, "HEAD", "/api/files/a/b/c.txt", tn.read, nil, nil)
	if r.status != 200 || len(r.body) != 0 || r.hdr.Get("ETag") == "" || r.hdr.Get("Content-Length") != "3" {
		t.Errorf("HEAD: %v %v", r, r.hdr)
	}
	expectErr(t, tn.api(t, "GET", "/api/files/nope.txt", tn.read, nil, nil), 404, "not_found")

	// mkdir: 201, again 200; under a file 409; on a file 409.
	r = tn.api(t, "POST", "/api/mkdir", W, []byte(`{"path":"d1"}`), nil)
	expectStatus(t, r, 201)
	if m := checkMeta(t, r.body); !m.IsDirectory || m.Hash != "" {
		t.Errorf("mkdir meta %+v", m)
	}
	expectStatus(t, tn.api(t, "POST", "/api/mkdir", W, []byte(`{"path":"d1"}`), nil), 200)
	expectErr(t, tn.api(t, "POST", "/api/mkdir", W, []byte(`{"path":"a/b/c.txt/x"}`), nil), 409, "conflict")
	expectErr(t, tn.api(t, "POST", "/api/mkdir", W, []byte(`{"path":"a/b/c.txt"}`), nil), 409, "conflict")
	expectErr(t, tn.api(t, "PUT", "/api/files/a/b/c.txt/under", W, []byte("x"), nil), 409, "conflict")
	expectErr(t, tn.api(t, "POST", "/api/mkdir", W, []byte(`{"path":"d1","extra":1}`), nil), 400, "bad_request")
	expectErr(t, tn.api(t, "POST", "/api/mkdir", W, []byte(`{"path":`), nil), 400, "bad_request")

	// move: 200 meta of the new path, keeps hash/size/modified, creates parents;
	// onto an existing path 409; if_match mismatch 412; case-only rename allowed.
	tn.put(t, "m/src.txt", "moveme")
	r = tn.api(t, "POST", "/api/move", W, []byte(`{"from":"m/src.txt","to":"n/o/dst.txt"}`), nil)
	expectStatus(t, r, 200)
	if m := checkMeta(t, r.body); m.Path != "n/o/dst.txt" || m.Hash != sha("moveme") || m.Size != 6 {
		t.Errorf("move meta %+v", m)
	}
	expectErr(t, tn.api(t, "POST", "/api/move", W, []byte(`{"from":"n/o/dst.txt","to":"a/b/c.txt"}`), nil), 409, "conflict")
	expectErr(t, tn.api(t, "POST", "/api/move", W, []byte(`{"from":"n/o/dst.txt","to":"z.txt","if_match":"`+sha("other")+`"}`), nil), 412, "precondition_failed")
	expectStatus(t, tn.api(t, "POST", "/api/move", W, []byte(`{"from":"n/o/dst.txt","to":"z.txt","if_match":"`+sha("moveme")+`"}`), nil), 200)
	r = tn.api(t, "POST", "/api/move", W, []byte(`{"from":"z.txt","to":"Z.txt"}`), nil)
	expectStatus(t, r, 200)
	expectErr(t, tn.api(t, "POST", "/api/move", W, []byte(`{"from":"nope","to":"x"}`), nil), 404, "not_found")

	// Case-insensitive names: a second spelling is 409.
	expectErr(t, tn.api(t, "PUT", "/api/files/z.TXT", W, []byte("x"), nil), 409, "conflict")
	expectErr(t, tn.api(t, "POST", "/api/mkdir", W, []byte(`{"path":"D1"}`), nil), 409, "conflict")

	// DELETE: {"seq"}; non-empty dir 409; if_seq 412; recursive ok; If-Match 412.
	r = tn.api(t, "DELETE", "/api/files/Z.txt", W, nil, nil)
	expectStatus(t, r, 200)
	checkKeys(t, "delete", r.body, "seq")
	expectErr(t, tn.api(t, "DELETE", "/api/files/a", W, nil, nil), 409, "conflict")
	expectErr(t, tn.api(t, "DELETE", "/api/files/a?recursive=true&if_seq=1", W, nil, nil), 412, "precondition_failed")
	expectErr(t, tn.api(t, "DELETE", "/api/files/a/b/c.txt", W, nil, map[string]string{"If-Match": `"` + sha("one") + `"`}), 412, "precondition_failed")
	r = tn.api(t, "DELETE", "/api/files/a?recursive=true", W, nil, nil)
	expectStatus(t, r, 200)
	expectErr(t, tn.api(t, "DELETE", "/api/files/a", W, nil, nil), 404, "not_found")

	// 405 is still a JSON error.
	r = tn.api(t, "PATCH", "/api/files/x", W, nil, nil)
	if r.status != 405 || r.errCode() == "" {
		t.Errorf("PATCH: %v", r)
	}
	_ = u
}

// SPEC §3: preconditions, upload headers, limits on request bodies.
func TestHTTPUploadRules(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, `"quota":"1KiB","max_file_size":"600B","max_entries":6`)
	W := tn.write
	tn.put(t, "p.txt", "v1")
	cases := []struct {
		name   string
		path   string
		body   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"If-Match current", "p.txt", "v2", map[string]string{"If-Match": `"` + sha("v1") + `"`}, 200, ""},
		{"If-Match stale", "p.txt", "v3", map[string]string{"If-Match": `"` + sha("v1") + `"`}, 412, "precondition_failed"},
		{"If-Match: a quoted tag that is no hash", "p.txt", "v3", map[string]string{"If-Match": `"nope"`}, 412, "precondition_failed"},
		{"If-Match: * on an existing path", "p.txt", "v2", map[string]string{"If-Match": "*"}, 200, ""},
		{"If-Match: * on a missing path", "missing.txt", "x", map[string]string{"If-Match": "*"}, 412, "precondition_failed"},
		{"If-Match on a missing path", "missing.txt", "x", map[string]string{"If-Match": `"` + sha("x") + `"`}, 412, "precondition_failed"},
		{"If-None-Match * on an existing path", "p.txt", "x", map[string]string{"If-None-Match": "*"}, 412, "precondition_failed"},
		{"If-None-Match * on a new path", "new.txt", "x", map[string]string{"If-None-Match": "*"}, 201, ""},
		{"X-Content-SHA256 match", "sum.txt", "abc", map[string]string{"X-Content-SHA256": sha("abc")}, 201, ""},
		{"attack: X-Content-SHA256 mismatch", "sum.txt", "abd", map[string]string{"X-Content-SHA256": sha("abc")}, 422, "digest_mismatch"},
		{"attack: gzip Content-Encoding", "enc.txt", "x", map[string]string{"Content-Encoding": "gzip"}, 415, "unsupported_media_type"},
		{"identity Content-Encoding", "enc.txt", "x", map[string]string{"Content-Encoding": "identity"}, 201, ""},
		{"attack: over max_file_size", "big.txt", strings.Repeat("x", 601), nil, 413, "too_large"},
		{"attack: over quota", "q.txt", strings.Repeat("x", 590), map[string]string{}, 201, ""},
		{"attack: quota now exceeded", "q2.txt", strings.Repeat("x", 590), nil, 413, "quota_exceeded"},
	}
	for _, c := range cases {
		r := tn.api(t, "PUT", "/api/files/"+c.path, W, []byte(c.body), c.hdr)
		if r.status != c.status || (c.code != "" && r.errCode() != c.code) {
			t.Errorf("%s: want %d %s, got %v", c.name, c.status, c.code, r)
		}
	}
	// A failed upload left the old content.
	if r := tn.api(t, "GET", "/api/files/sum.txt", tn.read, nil, nil); string(r.body) != "abc" {
		t.Errorf("digest mismatch changed the file: %q", r.body)
	}
	// max_entries: p, new, sum, enc, q = 5 files; one more is 6, the next is 413.
	tn.put(t, "six.txt", "6")
	expectErr(t, tn.api(t, "PUT", "/api/files/seven.txt", W, []byte("7"), nil), 413, "too_large")
	// JSON body over 64 KiB.
	big := `{"path":"` + strings.Repeat("a", 70<<10) + `"}`
	expectErr(t, tn.api(t, "POST", "/api/mkdir", W, []byte(big), nil), 413, "too_large")
	// Usage.
	r := tn.api(t, "GET", "/api/usage", tn.read, nil, nil)
	expectStatus(t, r, 200)
	checkKeys(t, "usage", r.body, "used", "quota", "entries", "max_entries")
	var us struct{ Used, Quota, Entries, MaxEntries int64 }
	r.json(t, &us)
	var usage map[string]int64
	r.json(t, &usage)
	if usage["quota"] != 1024 || usage["max_entries"] != 6 || usage["entries"] != 6 || usage["used"] != int64(len("v2")+1+3+1+590+1) {
		t.Errorf("usage %s", r.body)
	}
	// Expect: 100-continue over quota is refused before the body is sent.
	req, _ := http.NewRequest("PUT", e.d.URL()+"/api/files/huge.bin", strings.NewReader(strings.Repeat("x", 5000)))
	req.Header.Set("Authorization", "Bearer "+W)
	req.Header.Set("Expect", "100-continue")
	tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("Expect: 100-continue over limits: %d", res.StatusCode)
	}
}

// SPEC §3 paths: a bad path is 400 invalid_path; NFC normalisation.
func TestHTTPPathRules(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	bad := []string{
		"..", "a/../b", "./a", "a//b", "a\\b", "a%00b", "a%01b", "a%C2%85b", "a%E2%80%AEb", "%EF%BB%BFa",
		"a<b", "a>b", "a:b", "a%22b", "a|b", "a%3Fb", "a*b", "a.", "a ", "dir./x",
		"CON", "con.txt", "Nul.tar.gz", "COM1", "lpt9.x", "COM%C2%B9", "CONIN$", "conout$.log",
		".syncspace", "x/.SyncSpace/y", "%FF", strings.Repeat("s", 256), strings.Repeat("d/", 2100) + "f",
	}
	for _, p := range bad {
		r := tn.api(t, "PUT", "/api/files/"+p, tn.write, []byte("x"), nil)
		if r.status != 400 || r.errCode() != "invalid_path" {
			t.Errorf("attack: path %q: %v", truncate(p), r)
		}
	}
	for _, p := range []string{"..", "a\\b", ".syncspace"} {
		expectErr(t, tn.api(t, "POST", "/api/mkdir", tn.write, []byte(`{"path":`+jsonString(p)+`}`), nil), 400, "invalid_path")
		expectErr(t, tn.api(t, "GET", "/api/list?path="+url.QueryEscape(p), tn.read, nil, nil), 400, "invalid_path")
	}
	// A leading slash in JSON.
	expectErr(t, tn.api(t, "POST", "/api/mkdir", tn.write, []byte(`{"path":"/abs"}`), nil), 400, "invalid_path")
	// NFD in, NFC out; the NFC spelling is the same name.
	r := tn.api(t, "PUT", "/api/files/cafe%CC%81.txt", tn.write, []byte("x"), nil)
	expectStatus(t, r, 201)
	if m := checkMeta(t, r.body); m.Path != "caf\u00e9.txt" {
		t.Errorf("NFD path answered as %q, want NFC", m.Path)
	}
	expectStatus(t, tn.api(t, "GET", "/api/files/caf%C3%A9.txt", tn.read, nil, nil), 200)
	expectErr(t, tn.api(t, "PUT", "/api/files/CAF%C3%89.txt", tn.write, []byte("y"), nil), 409, "conflict")
	// Percent-decoded once: %2525 is the literal name "%25".
	r = tn.api(t, "PUT", "/api/files/pct%2525.txt", tn.write, []byte("x"), nil)
	expectStatus(t, r, 201)
	if m := checkMeta(t, r.body); m.Path != "pct%25.txt" {
		t.Errorf("double-encoded name stored as %q", m.Path)
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// SPEC §3: changes feed semantics and shapes.
func TestHTTPChanges(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	for i := 1; i <= 5; i++ {
		r := tn.api(t, "PUT", fmt.Sprintf("/api/files/f%d", i), tn.write, []byte{byte('0' + i)}, map[string]string{"X-Sync-Client-Id": "client-9"})
		expectStatus(t, r, 201)
	}
	type page struct {
		Epoch  string            `json:"epoch"`
		Seq    int64             `json:"seq"`
		Events []json.RawMessage `json:"events"`
		More   bool              `json:"more"`
	}
	var p page
	r := tn.api(t, "GET", "/api/changes?since=0", tn.read, nil, nil)
	checkKeys(t, "changes", r.body, "epoch", "seq", "events", "more")
	r.json(t, &p)
	if p.Seq != 5 || len(p.Events) != 5 || p.More {
		t.Fatalf("changes since 0: %s", r.body)
	}
	var ev wsMsg
	json.Unmarshal(p.Events[0], &ev)
	if ev.Type != "FileOperation" || ev.seq() != 1 || ev.SourceClient == nil || *ev.SourceClient != "client-9" || ev.SourceSubject != "alice" {
		t.Errorf("event shape: %s", p.Events[0])
	}
	if k, path := ev.op(t); k != "Create" || path != "f1" {
		t.Errorf("event op %s %s", k, path)
	}
	// since is exclusive; seq is the last returned; more.
	tn.api(t, "GET", "/api/changes?since=2&limit=2&epoch="+p.Epoch, tn.read, nil, nil).json(t, &p)
	if p.Seq != 4 || len(p.Events) != 2 || !p.More {
		t.Errorf("since=2 limit=2: seq %d n %d more %v", p.Seq, len(p.Events), p.More)
	}
	tn.api(t, "GET", "/api/changes?since=5", tn.read, nil, nil).json(t, &p)
	if p.Seq != 5 || len(p.Events) != 0 || p.More {
		t.Errorf("since=head: seq %d n %d more %v", p.Seq, len(p.Events), p.More)
	}
	// Limit above the maximum is clamped or refused, never more than 10000.
	if r := tn.api(t, "GET", "/api/changes?since=0&limit=20000", tn.read, nil, nil); r.status != 200 && r.status != 400 {
		t.Errorf("limit 20000: %v", r)
	}
	expectErr(t, tn.api(t, "GET", "/api/changes?since=0&epoch=not-the-epoch", tn.read, nil, nil), 410, "resync_required")
	for _, q := range []string{"since=-1", "since=x", "since=0&limit=-1", "since=0&limit=x"} {
		expectErr(t, tn.api(t, "GET", "/api/changes?"+q, tn.read, nil, nil), 400, "bad_request")
	}
	// Replaying 1..N gives list at N (simple check: the files listed are the ones created).
	var l struct {
		Seq     int64             `json:"seq"`
		Entries []json.RawMessage `json:"entries"`
	}
	tn.api(t, "GET", "/api/list?recursive=true", tn.read, nil, nil).json(t, &l)
	if l.Seq != 5 || len(l.Entries) != 5 {
		t.Errorf("list at 5: %d entries seq %d", len(l.Entries), l.Seq)
	}
}

// SPEC §3: versions, deleted, restore (with and without "to").
func TestHTTPVersionsDeletedRestore(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	tn.put(t, "v/doc.txt", "first")
	tn.put(t, "v/doc.txt", "second")
	tn.put(t, "v/doc.txt", "third")
	r := tn.api(t, "GET", "/api/versions?path=v/doc.txt", tn.read, nil, nil)
	expectStatus(t, r, 200)
	checkKeys(t, "versions", r.body, "path", "versions")
	var vs struct {
		Path     string            `json:"path"`
		Versions []json.RawMessage `json:"versions"`
	}
	r.json(t, &vs)
	if vs.Path != "v/doc.txt" || len(vs.Versions) != 2 {
		t.Fatalf("versions: %s", r.body)
	}
	var v0, v1 struct {
		ID, Hash, Modified, ReplacedAt string
		Size                           int64
	}
	for i, raw := range vs.Versions {
		checkKeys(t, "version", raw, "id", "size", "hash", "modified", "replaced_at")
		var v struct {
			ID         string `json:"id"`
			Hash       string `json:"hash"`
			Modified   string `json:"modified"`
			ReplacedAt string `json:"replaced_at"`
			Size       int64  `json:"size"`
		}
		json.Unmarshal(raw, &v)
		if i == 0 {
			v0 = struct {
				ID, Hash, Modified, ReplacedAt string
				Size                           int64
			}{v.ID, v.Hash, v.Modified, v.ReplacedAt, v.Size}
		} else {
			v1 = struct {
				ID, Hash, Modified, ReplacedAt string
				Size                           int64
			}{v.ID, v.Hash, v.Modified, v.ReplacedAt, v.Size}
		}
	}
	if v0.Hash != sha("second") || v1.Hash != sha("first") {
		t.Errorf("versions not newest first: %s", r.body)
	}
	// Restore into another path with "to".
	r = tn.api(t, "POST", "/api/restore", tn.write, []byte(`{"path":"v/doc.txt","version":"`+v1.ID+`","to":"w/copy.txt"}`), nil)
	expectStatus(t, r, 200)
	if m := checkMeta(t, r.body); m.Path != "w/copy.txt" || m.Hash != sha("first") {
		t.Errorf("restore to: %+v", m)
	}
	if r := tn.api(t, "GET", "/api/files/v/doc.txt", tn.read, nil, nil); string(r.body) != "third" {
		t.Errorf("restore with to changed the source: %q", r.body)
	}
	// Delete, list deleted, restore in place.
	expectStatus(t, tn.api(t, "DELETE", "/api/files/v/doc.txt", tn.write, nil, nil), 200)
	r = tn.api(t, "GET", "/api/deleted?path=v", tn.read, nil, nil)
	expectStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"v/doc.txt"`) {
		t.Fatalf("deleted: %s", r.body)
	}
	var del struct {
		Entries []struct {
			Path    string `json:"path"`
			Version string `json:"version"`
		} `json:"entries"`
	}
	r.json(t, &del)
	if len(del.Entries) != 1 || del.Entries[0].Version == "" {
		t.Fatalf("deleted entries: %s", r.body)
	}
	r = tn.api(t, "POST", "/api/restore", tn.write, []byte(`{"path":"v/doc.txt","version":"`+del.Entries[0].Version+`"}`), nil)
	expectStatus(t, r, 200)
	if m := checkMeta(t, r.body); m.Hash != sha("third") {
		t.Errorf("restored %+v", m)
	}
	expectErr(t, tn.api(t, "POST", "/api/restore", tn.write, []byte(`{"path":"v/doc.txt","version":"nope"}`), nil), 404, "not_found")
	expectErr(t, tn.api(t, "POST", "/api/restore", tn.write, []byte(`{"path":"v/doc.txt","version":"`+v1.ID+`","to":"../x"}`), nil), 400, "invalid_path")
	expectErr(t, tn.api(t, "GET", "/api/versions?path=..", tn.read, nil, nil), 400, "invalid_path")
	// Tenant isolation: another tenant cannot see these files or versions.
	other := e.newTenant(t, "")
	expectErr(t, other.api(t, "GET", "/api/files/v/doc.txt", other.read, nil, nil), 404, "not_found")
	r = other.api(t, "POST", "/api/restore", other.write, []byte(`{"path":"v/doc.txt","version":"`+v1.ID+`"}`), nil)
	if r.status != 404 {
		t.Errorf("restore of another tenant's version: %v", r)
	}
}
