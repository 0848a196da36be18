package conformance

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// SPEC §3: a query string that does not decode is 400 bad_request on every route and
// no parameter is ever silently dropped (issue 11 item 7); JSON errors name the field,
// a changes limit above the maximum is clamped, usage says null when unlimited (issue
// 13 item 5).
func TestHTTPMalformedQueryAndFieldErrors(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	tn.put(t, "dir/a.txt", "a")
	tn.put(t, "dir/sub/b.txt", "b")
	names := func(r resp, want string) {
		t.Helper()
		var b struct{ Error struct{ Message string } }
		if err := json.Unmarshal(r.body, &b); err != nil || !strings.Contains(b.Error.Message, want) {
			t.Errorf("error message does not name %s: %v", want, r)
		}
	}

	// The precondition cannot vanish: nothing is deleted.
	r := tn.api(t, http.MethodDelete, "/api/files/dir?recursive=true&if_seq=1%zz", tn.write, nil, nil)
	expectErr(t, r, 400, "bad_request")
	names(r, `"if_seq"`)
	expectStatus(t, tn.api(t, http.MethodGet, "/api/files/dir/sub/b.txt", tn.read, nil, nil), 200)
	// A path that does not decode is not the root.
	r = tn.api(t, http.MethodGet, "/api/list?path=%zz", tn.read, nil, nil)
	expectErr(t, r, 400, "bad_request")
	names(r, `"path"`)
	for _, p := range []string{"/healthz?x=%zz", "/readyz?x=%", "/.well-known/jwks.json?a=1;b=2", "/api/changes?since=0&limit=%G0", "/ws?x=%zz"} {
		expectErr(t, tn.api(t, http.MethodGet, p, tn.read, nil, nil), 400, "bad_request")
	}

	// An unknown JSON field is named.
	r = tn.api(t, http.MethodPost, "/api/mkdir", tn.write, []byte(`{"pth":"x"}`), nil)
	expectErr(t, r, 400, "bad_request")
	names(r, `unknown field "pth"`)

	// A limit above 10000 is clamped, not refused.
	expectStatus(t, tn.api(t, http.MethodGet, "/api/changes?since=0&limit=20000", tn.read, nil, nil), 200)

	// Unlimited quota is null, not 0.
	r = tn.api(t, http.MethodGet, "/api/usage", tn.read, nil, nil)
	expectStatus(t, r, 200)
	if q := r.fields(t)["quota"]; string(q) != "null" {
		t.Errorf("usage quota %s for a tenant without quota, want null: %v", q, r)
	}
}
