package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// env is one syncd shared by the tests that need only an ordinary server. Each test
// creates its own tenant, so seqs and epochs never mix. The server trusts
// X-Forwarded-For from 127.0.0.1, and tests whose requests fail authentication on
// purpose send their own X-Forwarded-For address (see fakeClient) so that the per-address
// limiter of SPEC §2 never throttles another test.
type env struct {
	d   *daemon
	ops string // ops token
}

var (
	sharedOnce sync.Once
	sharedEnv  *env
	sharedErr  error
	sharedDir  string
	tenantSeq  atomic.Int64
	clientSeq  atomic.Int64
)

// shared returns the shared server, starting it on first use.
func shared(t testing.TB) *env {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "syncspace-conformance-shared-")
		if sharedErr != nil {
			return
		}
		cfg := fmt.Sprintf(`{
  "listen": "127.0.0.1:0",
  "data_dir": %q,
  "trusted_proxies": ["127.0.0.1/32"],
  "log": {"level": "info", "format": "text"},
  "limits": {"ws_per_token": 4}
}`, filepath.Join(sharedDir, "data"))
		var d *daemon
		d, sharedErr = tryStartDaemon(t, startOpts{config: cfg, umask: -1, dir: sharedDir, dataDir: "data"})
		if sharedErr != nil {
			return
		}
		d.t = nil
		e := &env{d: d}
		r := run(t, sharedDir, nil, bins.syncctl, "--data", d.dataDir, "token", "issue", "--ops", "--subject", "conformance")
		if r.code != 0 {
			sharedErr = fmt.Errorf("issue ops token: %v", r)
			d.stop()
			return
		}
		e.ops = strings.TrimSpace(r.stdout)
		sharedEnv = e
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedEnv
}

func stopShared() {
	if sharedEnv != nil {
		sharedEnv.d.stop()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
}

// fakeClient returns a distinct client address (TEST-NET-2) for X-Forwarded-For.
func fakeClient() string {
	n := clientSeq.Add(1)
	return fmt.Sprintf("198.51.%d.%d", n/250, n%250+1)
}

// tenant is a tenant of the shared server with one token per role.
type tenant struct {
	e                  *env
	name               string
	read, write, admin string
}

// newTenant creates a tenant through the admin API with the given extra JSON fields
// (e.g. `"quota":"1KiB"`) and issues read, write and admin tokens for subject "alice".
func (e *env) newTenant(t testing.TB, extra string) *tenant {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", tenantSeq.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	name = sanitizeTenant(name)
	body := fmt.Sprintf(`{"name":%q`, name)
	if extra != "" {
		body += "," + extra
	}
	body += "}"
	r := e.adminDo(t, http.MethodPost, "/admin/tenants", body)
	expectStatus(t, r, http.StatusCreated)
	tn := &tenant{e: e, name: name}
	tn.read = e.issue(t, name, "alice", "read", "1h")
	tn.write = e.issue(t, name, "alice", "write", "1h")
	tn.admin = e.issue(t, name, "alice", "admin", "1h")
	return tn
}

func sanitizeTenant(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return out
}

// issue issues a tenant token through the admin API.
func (e *env) issue(t testing.TB, tenant, subject, role, ttl string) string {
	t.Helper()
	r := e.adminDo(t, http.MethodPost, "/admin/tokens", fmt.Sprintf(`{"tenant":%q,"subject":%q,"role":%q,"ttl":%q}`, tenant, subject, role, ttl))
	expectStatus(t, r, http.StatusCreated)
	var out struct {
		Token string `json:"token"`
	}
	r.json(t, &out)
	return out.Token
}

// adminDo calls the admin API with the ops token and a JSON body.
func (e *env) adminDo(t testing.TB, method, path, body string) resp {
	t.Helper()
	q := req{method: method, url: e.d.URL() + path, token: e.ops}
	if body != "" {
		q.body = []byte(body)
		q.hdr = map[string]string{"Content-Type": "application/json"}
	}
	return do(t, q)
}

// api calls the tenant API with token tok.
func (tn *tenant) api(t testing.TB, method, path, tok string, body []byte, hdr map[string]string) resp {
	t.Helper()
	return do(t, req{method: method, url: tn.e.d.URL() + path, token: tok, body: body, hdr: hdr})
}

// put uploads content with the write token and expects 200 or 201.
func (tn *tenant) put(t testing.TB, path, content string) meta {
	t.Helper()
	r := tn.api(t, http.MethodPut, "/api/files/"+path, tn.write, []byte(content), nil)
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		t.Fatalf("PUT %s: %v", path, r)
	}
	var m meta
	r.json(t, &m)
	return m
}

// meta is SPEC §3's file metadata.
type meta struct {
	Path        string `json:"path"`
	Size        int64  `json:"size"`
	Modified    string `json:"modified"`
	Hash        string `json:"hash"`
	IsDirectory bool   `json:"is_directory"`
	Seq         int64  `json:"seq"`
}

// metaKeys are exactly the keys of a metadata object.
var metaKeys = []string{"path", "size", "modified", "hash", "is_directory", "seq"}

// checkKeys fails unless the JSON object raw has exactly keys.
func checkKeys(t testing.TB, what string, raw json.RawMessage, keys ...string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: not a JSON object: %s", what, raw)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: missing key %q in %s", what, k, raw)
		}
	}
	if len(m) != len(keys) {
		t.Errorf("%s: keys %v, want exactly %v", what, mapKeys(m), keys)
	}
}

// hasKeys fails unless the JSON object raw has at least keys.
func hasKeys(t testing.TB, what string, raw json.RawMessage, keys ...string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: not a JSON object: %s", what, raw)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: missing key %q in %s", what, k, raw)
		}
	}
}

func mapKeys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
