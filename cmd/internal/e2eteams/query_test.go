package e2eteams_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestShareAndTeamQueryParams: /s/{id} reads recursive as GET /api/list does (true/1,
// false/0, anything else 400), and a parameter given twice on /s/{id} or
// /api/team/audit is 400 (SPEC §3: no parameter is ever silently dropped). Before,
// /s/{id}?recursive=1 listed one level, ?recursive=yes was taken for false, and
// ?recursive=true&recursive=false or ?limit=1&limit=1000 read the first value only.
func TestShareAndTeamQueryParams(t *testing.T) {
	e := newTeamEnv(t)
	e.seed(t)
	folder := e.share(t, e.full, `{"path":"proj/a","expires_in":"1h"}`, 201)
	s := "/s/" + folder.ID

	deep := `"proj/a/sub/deep.txt"`
	for _, c := range []struct {
		query  string
		status int
		deep   bool // the listing holds the nested file
	}{
		{"", 200, false},
		{"?recursive=true", 200, true},
		{"?recursive=1", 200, true},
		{"?recursive=false", 200, false},
		{"?recursive=0", 200, false},
		// attacks
		{"?recursive=yes", 400, false},
		{"?recursive=TRUE", 400, false},
		{"?recursive=true&recursive=false", 400, false},
		{"?recursive=false&recursive=true", 400, false},
	} {
		t.Run("share"+c.query, func(t *testing.T) {
			resp, b := e.anon(t, s+c.query, "")
			if resp.StatusCode != c.status {
				t.Fatalf("GET %s: %d %s, want %d", s+c.query, resp.StatusCode, b, c.status)
			}
			if c.status != 200 {
				checkBadRequest(t, b)
				return
			}
			if got := strings.Contains(string(b), deep); got != c.deep {
				t.Fatalf("GET %s: nested file listed %v, want %v: %s", s+c.query, got, c.deep, b)
			}
		})
	}

	for _, c := range []struct {
		query  string
		status int
	}{
		{"?limit=5", 200},
		// attacks
		{"?limit=1&limit=1000", 400},
		{"?limit=1000&limit=1", 400},
	} {
		t.Run("team audit"+c.query, func(t *testing.T) {
			code, b := e.do(t, e.adminA, "GET", "/api/team/audit"+c.query, "")
			if code != c.status {
				t.Fatalf("GET /api/team/audit%s: %d %s, want %d", c.query, code, b, c.status)
			}
			if c.status != 200 {
				checkBadRequest(t, b)
			}
		})
	}
}

// checkBadRequest fails unless b is SPEC §3's error body with code bad_request.
func checkBadRequest(t *testing.T, b []byte) {
	t.Helper()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Error.Code != "bad_request" {
		t.Fatalf("want a bad_request error body, got %s", b)
	}
}
