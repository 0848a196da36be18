package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestStrictQueryEveryRoute: a query string that does not decode is 400 bad_request
// naming the parameter on every route (SPEC §3), and nothing happens: before, the
// pair was dropped silently and `DELETE ...?recursive=true&if_seq=1%zz` deleted the
// directory without its precondition, `GET /api/list?path=%zz` listed the root.
func TestStrictQueryEveryRoute(t *testing.T) {
	e := startDaemon(t, nil)
	W := e.tenant("acme", tenants.Options{}, "write")
	ops, _, err := e.d.Auth().IssueOpsToken(t.Context(), "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.put(W, "dir/a.txt", []byte("a"))
	e.put(W, "dir/sub/b.txt", []byte("b"))

	cases := []struct {
		name, method, path, token string
		status                    int
		param                     string // the parameter the message must name
	}{
		{name: "valid list", method: "GET", path: "/api/list?path=dir&recursive=true", token: W, status: 200},
		{name: "valid changes", method: "GET", path: "/api/changes?since=0&limit=5", token: W, status: 200},
		{name: "valid healthz with query", method: "GET", path: "/healthz?probe=1", status: 200},

		// attacks: every route, authenticated or not, refuses before anything else.
		{name: "attack: delete precondition dropped", method: "DELETE", path: "/api/files/dir?recursive=true&if_seq=1%zz", token: W, status: 400, param: "if_seq"},
		{name: "attack: recursive flag undecodable", method: "DELETE", path: "/api/files/dir?recursive=tru%e", token: W, status: 400, param: "recursive"},
		{name: "attack: list path", method: "GET", path: "/api/list?path=%zz", token: W, status: 400, param: "path"},
		{name: "attack: list semicolon", method: "GET", path: "/api/list?path=dir;recursive=true", token: W, status: 400, param: "path"},
		{name: "attack: archive path", method: "GET", path: "/api/archive?path=%", token: W, status: 400, param: "path"},
		{name: "attack: changes since", method: "GET", path: "/api/changes?since=%zz", token: W, status: 400, param: "since"},
		{name: "attack: changes epoch", method: "GET", path: "/api/changes?since=0&epoch=%G1", token: W, status: 400, param: "epoch"},
		{name: "attack: versions path", method: "GET", path: "/api/versions?path=dir%2", token: W, status: 400, param: "path"},
		{name: "attack: deleted path", method: "GET", path: "/api/deleted?path=%zz", token: W, status: 400, param: "path"},
		{name: "attack: usage", method: "GET", path: "/api/usage?x=%zz", token: W, status: 400, param: "x"},
		{name: "attack: download", method: "GET", path: "/api/files/dir/a.txt?v=%zz", token: W, status: 400, param: "v"},
		{name: "attack: upload", method: "PUT", path: "/api/files/dir/c.txt?x=%zz", token: W, status: 400, param: "x"},
		{name: "attack: mkdir", method: "POST", path: "/api/mkdir?%zz=1", token: W, status: 400, param: "%zz"},
		{name: "attack: no token", method: "GET", path: "/api/list?path=%zz", status: 400, param: "path"},
		{name: "attack: healthz", method: "GET", path: "/healthz?x=%zz", status: 400, param: "x"},
		{name: "attack: readyz", method: "GET", path: "/readyz?x=%", status: 400, param: "x"},
		{name: "attack: jwks", method: "GET", path: "/.well-known/jwks.json?x=%zz", status: 400, param: "x"},
		{name: "attack: ws upgrade", method: "GET", path: "/ws?client_id=%zz", token: W, status: 400, param: "client_id"},
		{name: "attack: admin tokens filter", method: "GET", path: "/admin/tokens?tenant=%zz", token: ops, status: 400, param: "tenant"},
		{name: "attack: admin audit limit", method: "GET", path: "/admin/audit?limit=%zz", token: ops, status: 400, param: "limit"},
		{name: "attack: metrics", method: "GET", path: "/metrics?x=%zz", token: ops, status: 400, param: "x"},
		{name: "attack: unknown route", method: "GET", path: "/nope?x=%zz", status: 400, param: "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.do(req{method: c.method, path: c.path, token: c.token})
			if a.status != c.status {
				t.Fatalf("status %d, want %d: %s", a.status, c.status, a.body)
			}
			if c.param == "" {
				return
			}
			if a.code() != protocol.CodeBadRequest {
				t.Fatalf("code %q: %s", a.code(), a.body)
			}
			var b struct{ Error struct{ Message string } }
			if err := json.Unmarshal(a.body, &b); err != nil || !strings.Contains(b.Error.Message, `"`+c.param+`"`) {
				t.Fatalf("message does not name %q: %s", c.param, a.body)
			}
		})
	}
	// Nothing was deleted or written.
	l := e.list(W, "?recursive=true")
	if len(l.Entries) != 4 { // dir, dir/a.txt, dir/sub, dir/sub/b.txt
		t.Fatalf("entries after refused requests: %+v", l.Entries)
	}
}

// TestJSONErrorsNameTheField: a JSON body with an unknown field or a value of the
// wrong type is 400 bad_request naming the field.
func TestJSONErrorsNameTheField(t *testing.T) {
	e := startDaemon(t, nil)
	W := e.tenant("acme", tenants.Options{}, "write")
	for _, c := range []struct{ path, body, want string }{
		{"/api/mkdir", `{"pth":"x"}`, `unknown field "pth"`},
		{"/api/mkdir", `{"path":"x","mode":"0777"}`, `unknown field "mode"`},
		{"/api/move", `{"from":1,"to":"b"}`, `field "from": want a string`},
		{"/api/restore", `{"path":"a","version":"v","to":true}`, `field "to": want a string`},
		{"/api/mkdir", `{"path":`, `invalid JSON body`},
		{"/api/mkdir", `["x"]`, `want a JSON object`},
		{"/api/mkdir", `{"` + strings.Repeat("p", 500) + `":1}`, `unknown field "` + strings.Repeat("p", 64) + `…"`},
	} {
		a := e.do(req{method: "POST", path: c.path, body: []byte(c.body), token: W})
		var b struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(a.body, &b)
		if a.status != 400 || b.Error.Code != "bad_request" || !strings.Contains(b.Error.Message, c.want) {
			t.Errorf("%s %s: %d %s, want 400 naming %s", c.path, c.body, a.status, a.body, c.want)
		}
	}
	if l := e.list(W, "?recursive=true"); len(l.Entries) != 0 {
		t.Fatalf("refused bodies wrote entries: %+v", l.Entries)
	}
}

// TestUsageNullWhenUnlimited: /api/usage says null for an unlimited quota (SPEC §3),
// never 0, and the number when there is one.
func TestUsageNullWhenUnlimited(t *testing.T) {
	e := startDaemon(t, nil)
	free := e.tenant("free", tenants.Options{}, "write")
	capped := e.tenant("capped", tenants.Options{Quota: 5000, MaxEntries: 7}, "write")
	e.put(free, "a.txt", []byte("abc"))
	var u map[string]json.RawMessage
	e.do(req{method: "GET", path: "/api/usage", token: free}).json(t, &u)
	if string(u["quota"]) != "null" || string(u["used"]) != "3" || string(u["entries"]) != "1" || string(u["max_entries"]) != "1000000" {
		t.Fatalf("unlimited usage %s", mustJSON(u))
	}
	e.do(req{method: "GET", path: "/api/usage", token: capped}).json(t, &u)
	if string(u["quota"]) != "5000" || string(u["max_entries"]) != "7" {
		t.Fatalf("capped usage %s", mustJSON(u))
	}
}

// TestChangesLimitClampedBlackBox: a limit above the maximum is clamped, not refused
// (SPEC §3), whatever its size; a limit that is not a number is refused.
func TestChangesLimitClampedBlackBox(t *testing.T) {
	e := startDaemon(t, nil)
	W := e.tenant("acme", tenants.Options{}, "write")
	for i := range 3 {
		e.put(W, "f"+itoa(int64(i)), []byte("x"))
	}
	for _, q := range []string{"limit=10001", "limit=20000", "limit=99999999999999999999999"} {
		var p protocol.ChangesPage
		a := e.do(req{method: "GET", path: "/api/changes?since=0&" + q, token: W})
		a.json(t, &p)
		if a.status != 200 || len(p.Events) != 3 || p.More {
			t.Fatalf("%s: %d, %d events, more %v", q, a.status, len(p.Events), p.More)
		}
	}
	for _, q := range []string{"limit=-1", "limit=1e9", "limit=%2B5", "limit=10000.5"} {
		if a := e.do(req{method: "GET", path: "/api/changes?since=0&" + q, token: W}); a.status != 400 {
			t.Fatalf("%s: %d %s", q, a.status, a.body)
		}
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
