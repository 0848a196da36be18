package e2eteams_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
)

type link struct {
	ID, URL, Key string
}

func (e *env) share(t *testing.T, token, body string, want int) link {
	t.Helper()
	code, b := e.do(t, token, "POST", "/api/shares", body)
	if code != want {
		t.Fatalf("POST /api/shares %s: %d %s, want %d", body, code, b, want)
	}
	var l link
	json.Unmarshal(b, &l)
	return l
}

// anon fetches a link path without a token, with an optional password.
func (e *env) anon(t *testing.T, path, password string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.s.URL+path, nil)
	if password != "" {
		req.Header.Set("X-Share-Password", password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestShareLinks: a folder link lists, downloads and archives inside the folder only;
// a file link downloads the file; passwords, revocation, expiry; the attacks table.
func TestShareLinks(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	folder := e.share(t, e.full, `{"path":"proj/a","expires_in":"1h"}`, 201)
	if len(folder.ID) != 22 || !strings.HasPrefix(folder.URL, e.s.URL+"/s/"+folder.ID) {
		t.Fatalf("link %+v", folder)
	}
	s := "/s/" + folder.ID
	resp, b := e.anon(t, s+"?recursive=true", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"proj/a/sub/deep.txt"`) || strings.Contains(string(b), "proj/b") {
		t.Fatalf("folder listing: %d %s", resp.StatusCode, b)
	}
	resp, b = e.anon(t, s+"/files/proj/a/x.txt", "")
	if resp.StatusCode != 200 || string(b) != "content of proj/a/x.txt" {
		t.Fatalf("download: %d %q", resp.StatusCode, b)
	}
	for h, want := range map[string]string{"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("Etag") == "" {
		t.Errorf("download headers %v", resp.Header)
	}
	checkShareArchive(t, e, s+"/archive")

	file := e.share(t, e.full, `{"path":"secret.txt","expires_in":"72h"}`, 201)
	if resp, b := e.anon(t, "/s/"+file.ID, ""); resp.StatusCode != 200 || string(b) != "content of secret.txt" {
		t.Fatalf("file link: %d %q", resp.StatusCode, b)
	}
	pw := e.share(t, e.full, `{"path":"proj/a/x.txt","expires_in":"1h","password":"open sesame"}`, 201)
	short := e.share(t, e.full, `{"path":"proj/a/x.txt","expires_in":"1s"}`, 201)
	e.s.Tenant(t, "bravo", tenants.Options{})
	other := e.s.Token(t, "bravo", "eve", auth.RoleWrite)

	cases := []struct {
		name, path, password string
		want                 int
	}{
		{"file outside the folder", s + "/files/proj/b/y.txt", "", 404},
		{"prefix trick", s + "/files/proj/ab", "", 404},
		{"sibling with the folder as prefix", s + "/files/project/z.txt", "", 404},
		{"case folding outside", s + "/files/PROJ/B/y.txt", "", 404},
		{"dotdot", s + "/files/proj/a/%2E%2E/b/y.txt", "", 400},
		{"encoded slashes", s + "/files/proj%2Fa%2F..%2Fb%2Fy.txt", "", 400},
		{"archive of a file link", "/s/" + file.ID + "/archive", "", 404},
		{"file link reaching beside", "/s/" + file.ID + "/files/proj/a/x.txt", "", 404},
		{"password missing", "/s/" + pw.ID, "", 401},
		{"password wrong", "/s/" + pw.ID, "open sesam", 401},
		{"password right", "/s/" + pw.ID, "open sesame", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if resp, b := e.anon(t, c.path, c.password); resp.StatusCode != c.want {
				t.Fatalf("GET %s: %d %s, want %d", c.path, resp.StatusCode, b, c.want)
			}
		})
	}
	t.Run("create", func(t *testing.T) {
		read := e.s.Token(t, "acme", "reader", auth.RoleRead)
		e.share(t, read, `{"path":"proj/a","expires_in":"1h"}`, 403)
		e.share(t, e.full, `{"path":"proj/a","expires_in":"721h"}`, 400)
		e.share(t, e.full, `{"path":"proj/a","expires_in":"-1h"}`, 400)
		e.share(t, e.full, `{"path":"nothing/here","expires_in":"1h"}`, 404)
		e.share(t, e.scoped, `{"path":"secret.txt","expires_in":"1h"}`, 404) // outside its paths
		e.share(t, e.scoped, `{"path":"proj/a/x.txt","expires_in":"1h"}`, 201)
	})
	t.Run("list", func(t *testing.T) {
		_, b := e.do(t, e.full, "GET", "/api/shares", "")
		if !strings.Contains(string(b), folder.Key) || strings.Contains(string(b), folder.ID) || strings.Contains(string(b), "argon2") {
			t.Fatalf("list: %s", b)
		}
		_, b = e.do(t, e.scoped, "GET", "/api/shares", "")
		if strings.Contains(string(b), "secret.txt") {
			t.Fatalf("scoped list shows a link outside its paths: %s", b)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		if code, _ := e.do(t, other, "DELETE", "/api/shares/"+folder.ID, ""); code != 404 {
			t.Fatalf("another tenant revoked a link: %d", code)
		}
		if code, _ := e.do(t, e.scoped, "DELETE", "/api/shares/"+file.ID, ""); code != 404 {
			t.Fatalf("scoped token revoked a link outside its paths: %d", code)
		}
		if code, b := e.do(t, e.full, "DELETE", "/api/shares/"+folder.Key, ""); code != 200 {
			t.Fatalf("revoke: %d %s", code, b)
		}
		for _, p := range []string{s, s + "/files/proj/a/x.txt", s + "/archive"} {
			if resp, _ := e.anon(t, p, ""); resp.StatusCode != 404 {
				t.Fatalf("revoked link %s: %d", p, resp.StatusCode)
			}
		}
	})
	t.Run("expiry", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		if resp, _ := e.anon(t, "/s/"+short.ID, ""); resp.StatusCode != 404 {
			t.Fatalf("expired link: %d", resp.StatusCode)
		}
	})
	t.Run("audit", func(t *testing.T) {
		es, err := e.s.D.Auth().ListAudit(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		var opens, creates int
		for _, en := range es {
			switch en.Action {
			case "share.open", "share.file", "share.archive":
				opens++
			case "share.create":
				creates++
			}
		}
		if opens < len(cases) || creates < 4 {
			t.Fatalf("audited %d uses, %d creations", opens, creates)
		}
	})
}

func checkShareArchive(t *testing.T, e *env, path string) {
	t.Helper()
	resp, b := e.anon(t, path, "")
	if resp.StatusCode != 200 {
		t.Fatalf("archive: %d %s", resp.StatusCode, b)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, "proj/a/") {
			t.Fatalf("archive escapes the folder: %s", h.Name)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("archive holds %d files", n)
	}
}

// TestShareBruteForce: guessing ids is limited like failed authentication (429 once
// the address's credit is spent, even for a right id) and audited.
func TestShareBruteForce(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	good := e.share(t, e.full, `{"path":"proj/a","expires_in":"1h"}`, 201)
	var limited bool
	for i := range 30 {
		id := strings.Repeat(string(rune('A'+i%26)), 22)
		resp, _ := e.anon(t, "/s/"+id, "")
		if resp.StatusCode == 429 {
			limited = resp.Header.Get("Retry-After") != ""
			break
		}
		if resp.StatusCode != 404 {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	if !limited {
		t.Fatal("guesses never limited")
	}
	if resp, _ := e.anon(t, "/s/"+good.ID, ""); resp.StatusCode != 429 {
		t.Fatalf("a right id while limited: %d, want 429", resp.StatusCode)
	}
	es, _ := e.s.D.Auth().ListAudit(t.Context(), 0)
	var failed int
	for _, en := range es {
		if en.Action == "share.open" && en.Outcome != auth.OutcomeOK {
			failed++
		}
	}
	if failed < 10 {
		t.Fatalf("%d failed guesses audited", failed)
	}
}

// TestShareIDNeverLogged: a link's id is a bearer secret the store keeps only hashed,
// so syncd's logs (the request log at info, error lines) never hold it either, on any
// route that carries it in its path: opening, downloading inside, archiving, revoking;
// they name the link by its key prefix, as the audit log does.
func TestShareIDNeverLogged(t *testing.T) {
	logs := &syncdtest.Buffer{}
	s := syncdtest.Start(t, syncdtest.Options{Logs: logs, Config: map[string]any{"log": map[string]any{"level": "debug"}}})
	s.Tenant(t, "acme", tenants.Options{})
	e := &env{s: s, full: s.Token(t, "acme", "owner", auth.RoleWrite)}
	e.put(t, e.full, "proj/a/x.txt", "x")
	folder := e.share(t, e.full, `{"path":"proj/a","expires_in":"1h"}`, 201)
	file := e.share(t, e.full, `{"path":"proj/a/x.txt","expires_in":"1h","password":"pw"}`, 201)
	for _, p := range []string{"/s/" + folder.ID, "/s/" + folder.ID + "?recursive=true", "/s/" + folder.ID + "/files/proj/a/x.txt",
		"/s/" + folder.ID + "/files/proj/a/missing.txt", "/s/" + folder.ID + "/archive", "/s/" + file.ID, "/s/" + file.ID + "/archive",
		"/s/" + folder.ID[:21], "/s/" + folder.ID + "x/files/y"} {
		e.anon(t, p, "")
	}
	e.anon(t, "/s/"+file.ID, "wrong")
	if code, b := e.do(t, e.full, "DELETE", "/api/shares/"+file.ID, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, b)
	}
	e.anon(t, "/s/"+file.ID, "pw")
	out := logs.String()
	for _, id := range []string{folder.ID, file.ID, folder.ID[:21]} {
		if strings.Contains(out, id) {
			t.Errorf("syncd's logs hold a share link id:\n%s", logs.Tail(40))
		}
	}
	if !strings.Contains(out, folder.Key[:16]) {
		t.Errorf("the request log does not name the link by its key prefix %s:\n%s", folder.Key[:16], logs.Tail(40))
	}
}

// TestShareIDNeverAudited: the audit log lives in the store, which keeps only a link's
// key: revoking by id, refused or not, records the key prefix, never the id.
func TestShareIDNeverAudited(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	outside := e.share(t, e.full, `{"path":"secret.txt","expires_in":"1h"}`, 201)
	inside := e.share(t, e.full, `{"path":"proj/a/x.txt","expires_in":"1h"}`, 201)
	if code, b := e.do(t, e.scoped, "DELETE", "/api/shares/"+outside.ID, ""); code != 404 {
		t.Fatalf("scoped revoke outside: %d %s", code, b)
	}
	if code, b := e.do(t, e.scoped, "DELETE", "/api/shares/"+inside.ID, ""); code != 200 {
		t.Fatalf("scoped revoke inside: %d %s", code, b)
	}
	es, err := e.s.D.Auth().ListAudit(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var revokes int
	for _, en := range es {
		for _, id := range []string{outside.ID, inside.ID} {
			if strings.Contains(en.Target, id) || strings.Contains(en.Actor, id) {
				t.Errorf("audit entry holds a link id: %+v", en)
			}
		}
		if en.Action == "share.revoke" {
			revokes++
			if !strings.Contains(en.Target, outside.Key[:16]) && !strings.Contains(en.Target, inside.Key[:16]) {
				t.Errorf("share.revoke entry does not name the link's key prefix: %+v", en)
			}
		}
	}
	if revokes != 2 {
		t.Fatalf("%d share.revoke entries, want 2", revokes)
	}
}

// TestRepeatedOrBadParametersRefused: no parameter is ever silently dropped (API.md):
// a parameter given twice on the admin, team and share routes is 400, not one of
// its values picked; a share folder's ?recursive reads as /api/list's does.
func TestRepeatedOrBadParametersRefused(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	e.s.Tenant(t, "bravo", tenants.Options{})
	admin := e.s.Token(t, "acme", "lead", auth.RoleAdmin)
	ops, _, err := e.s.D.Auth().IssueOpsToken(t.Context(), "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	folder := e.share(t, e.full, `{"path":"proj","expires_in":"1h"}`, 201)
	for _, c := range []struct{ token, path string }{
		{ops, "/admin/tokens?tenant=acme&tenant=bravo"},
		{ops, "/admin/tokens?ops=true&ops=false"},
		{ops, "/admin/tokens?tenant=acme&subject=a&subject=b"},
		{ops, "/admin/tokens?all=true&all=true"},
		{ops, "/admin/devices?tenant=acme&tenant=bravo"},
		{ops, "/admin/audit?limit=1&limit=100"},
		{admin, "/api/team/audit?limit=1&limit=100"},
		{"", "/s/" + folder.ID + "?recursive=true&recursive=false"},
		{"", "/s/" + folder.ID + "?recursive=yes"},
	} {
		if code, b := e.do(t, c.token, "GET", c.path, ""); code != 400 || !strings.Contains(string(b), "bad_request") {
			t.Errorf("GET %s: %d %s, want 400 bad_request", c.path, code, b)
		}
	}
	resp, b := e.anon(t, "/s/"+folder.ID+"?recursive=1", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"proj/a/sub/deep.txt"`) {
		t.Fatalf("?recursive=1 (as /api/list reads it): %d %s", resp.StatusCode, b)
	}
}

// TestShareGuessFloodAuditBounded: the audit log is append-only, so an anonymous
// client guessing link ids at line rate must not grow it at that rate: once its
// address is limited, its refusals are audited at most once a second (as failed admin
// authentications are), while the guesses before the limit are each audited.
func TestShareGuessFloodAuditBounded(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	const guesses = 300
	for i := range guesses {
		id := strings.Repeat(string(rune('A'+i%26)), 21) + string(rune('A'+i/26%26))
		if resp, _ := e.anon(t, "/s/"+id, ""); resp.StatusCode != 404 && resp.StatusCode != 429 {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	elapsed := time.Since(start)
	es, err := e.s.D.Auth().ListAudit(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, en := range es {
		if en.Action == "share.open" {
			n++
		}
	}
	// The burst (10) of guesses, each audited; then at most one a second, plus the
	// credits that came back meanwhile (one each 3 s).
	limit := 10 + 2*int(elapsed.Seconds()+1)
	if n < 10 || n > limit {
		t.Fatalf("%d guesses in %s left %d share.open audit entries, want 10..%d", guesses, elapsed.Round(time.Millisecond), n, limit)
	}
}

// TestShareFileLinkArchive: a file link has no archive (SPEC §7.5 archives folder
// links): /archive answers 404 not_found saying so (not "no such link": the link
// works), the audit log records that use as not_found, not ok, and the link still
// downloads its file.
func TestShareFileLinkArchive(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	file := e.share(t, e.full, `{"path":"secret.txt","expires_in":"1h"}`, 201)
	resp, b := e.anon(t, "/s/"+file.ID+"/archive", "")
	var ans struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(b, &ans); err != nil || resp.StatusCode != 404 || ans.Error.Code != "not_found" || !strings.Contains(ans.Error.Message, "file link has no archive") {
		t.Fatalf("archive of a file link: %d %s, want 404 not_found saying a file link has no archive", resp.StatusCode, b)
	}
	es, err := e.s.D.Auth().ListAudit(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, en := range es {
		if en.Action == "share.archive" {
			outcomes = append(outcomes, en.Outcome)
		}
	}
	if len(outcomes) != 1 || outcomes[0] != "not_found" {
		t.Fatalf("share.archive audited with outcomes %q, want one not_found", outcomes)
	}
	if resp, b := e.anon(t, "/s/"+file.ID, ""); resp.StatusCode != 200 || string(b) != "content of secret.txt" {
		t.Fatalf("file link after /archive: %d %q", resp.StatusCode, b)
	}
}
