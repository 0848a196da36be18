package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// env is a real syncd on 127.0.0.1:0 with a temporary data dir (cmd/syncd/syncdtest).
type env struct {
	t      testing.TB
	s      *syncdtest.Server
	d      *daemon.Daemon
	base   string
	dir    string
	client *http.Client
}

// startDaemon starts syncd with a config file holding extra on top of syncdtest's
// defaults (a nil value removes a default key).
func startDaemon(t testing.TB, extra map[string]any) *env {
	t.Helper()
	s := syncdtest.Start(t, syncdtest.Options{Config: extra})
	return &env{
		t:      t,
		s:      s,
		d:      s.D,
		base:   s.URL,
		dir:    s.DataDir,
		client: &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// tenant creates tenant name with o and returns a token of role for it.
func (e *env) tenant(name string, o tenants.Options, role string) string {
	e.t.Helper()
	e.s.Tenant(e.t, name, o)
	return e.token(name, "tester", role)
}

func (e *env) token(tenant, subject, role string) string {
	e.t.Helper()
	return e.s.Token(e.t, tenant, subject, role)
}

// req is one request of a test.
type req struct {
	method string
	path   string // raw request URI (path and query), not re-encoded
	body   []byte
	hdr    map[string]string
	token  string
	noLen  bool // send the body chunked, without Content-Length
}

type answer struct {
	status int
	hdr    http.Header
	body   []byte
}

func (a answer) code() protocol.Code {
	var b struct {
		Error struct {
			Code    protocol.Code `json:"code"`
			Message string        `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.body, &b)
	return b.Error.Code
}

func (a answer) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %q: %v", a.body, err)
	}
}

func (e *env) do(r req) answer {
	e.t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.noLen {
			body = io.MultiReader(bytes.NewReader(r.body))
		}
	}
	hr, err := http.NewRequest(r.method, e.base+"/", body)
	if err != nil {
		e.t.Fatal(err)
	}
	// Keep the request URI byte for byte (no client-side cleaning or re-encoding).
	hr.URL.Opaque = "//" + hr.URL.Host + pathOnly(r.path)
	hr.URL.RawQuery = queryOnly(r.path)
	if r.noLen {
		hr.ContentLength = -1
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.hdr {
		hr.Header.Set(k, v)
	}
	resp, err := e.client.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read: %v", r.method, r.path, err)
	}
	return answer{status: resp.StatusCode, hdr: resp.Header, body: b}
}

func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

func queryOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[i+1:]
	}
	return ""
}

func (e *env) put(token, path string, content []byte) protocol.Metadata {
	e.t.Helper()
	a := e.do(req{method: "PUT", path: "/api/files/" + path, body: content, token: token,
		hdr: map[string]string{"X-Content-SHA256": sum(content)}})
	if a.status != 200 && a.status != 201 {
		e.t.Fatalf("PUT %s: %d %s", path, a.status, a.body)
	}
	var m protocol.Metadata
	a.json(e.t, &m)
	return m
}

func (e *env) get(token, path string) []byte {
	e.t.Helper()
	a := e.do(req{method: "GET", path: "/api/files/" + path, token: token})
	if a.status != 200 {
		e.t.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	return a.body
}

type listAnswer struct {
	Epoch   string              `json:"epoch"`
	Seq     int64               `json:"seq"`
	Entries []protocol.Metadata `json:"entries"`
}

func (e *env) list(token, query string) listAnswer {
	e.t.Helper()
	a := e.do(req{method: "GET", path: "/api/list" + query, token: token})
	if a.status != 200 {
		e.t.Fatalf("list: %d %s", a.status, a.body)
	}
	var l listAnswer
	a.json(e.t, &l)
	return l
}

// allChanges pages through the whole change feed.
func (e *env) allChanges(token string) protocol.ChangesPage {
	e.t.Helper()
	var all protocol.ChangesPage
	since := int64(0)
	for {
		a := e.do(req{method: "GET", path: "/api/changes?limit=7&since=" + itoa(since), token: token})
		if a.status != 200 {
			e.t.Fatalf("changes: %d %s", a.status, a.body)
		}
		var p protocol.ChangesPage
		a.json(e.t, &p)
		all.Epoch = p.Epoch
		all.Events = append(all.Events, p.Events...)
		all.Seq = p.Seq
		if !p.More {
			return all
		}
		since = p.Seq
	}
}

// checkGapless fails unless events are seq 1..n in order.
func checkGapless(t *testing.T, evs []protocol.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: feed not gapless/ordered", i, ev.Seq)
		}
		if ev.Type != protocol.TypeFileOperation || ev.Operation.Kind() == "" {
			t.Fatalf("event %d malformed: %+v", i, ev)
		}
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
