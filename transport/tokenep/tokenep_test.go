package tokenep_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	_ "modernc.org/sqlite"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/httperr"
	"github.com/syncspace/syncspace/transport/tokenep"
)

type oneTenant struct{}

func (oneTenant) LookupTenant(_ context.Context, name string) (string, error) {
	if name == "acme" {
		return "tid-acme", nil
	}
	return "", protocol.Errorf(protocol.CodeNotFound, "no such tenant")
}

type fixture struct {
	svc *auth.Service
	srv *httptest.Server
}

func newFixture(t testing.TB, burst int) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "syncd.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := sqlitestore.OpenService(context.Background(), db, auth.Config{KeyDir: filepath.Join(dir, "keys")}, oneTenant{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = httperr.Handler(nil)
	mw := authmw.New(svc, authmw.Options{FailBurst: burst})
	tokenep.Register(e, svc, mw, nil)
	e.GET("/api/whoami", func(c echo.Context) error { return c.String(200, authmw.PrincipalFrom(c).Subject) }, mw.Tenant(auth.RoleRead))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &fixture{svc: svc, srv: srv}
}

func (f *fixture) enroll(t testing.TB) string {
	t.Helper()
	s, _, err := f.svc.Devices().Enroll(context.Background(), "acme", "alice", auth.RoleRead, "laptop", "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func post(t testing.TB, url, ctype, body string) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.Post(url+tokenep.Path, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, resp.Header
}

func jsonBody(secret string) string {
	b, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": secret})
	return string(b)
}

func TestTokenEndpoint(t *testing.T) {
	f := newFixture(t, 100)
	s1 := f.enroll(t)
	code, m, h := post(t, f.srv.URL, "application/json", jsonBody(s1))
	if code != 200 || m["token_type"] != "Bearer" || m["access_token"] == "" || m["refresh_token"] == s1 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("json grant: %d %v %v", code, m, h)
	}
	if ei, _ := m["expires_in"].(float64); ei < 890 || ei > 900 {
		t.Fatalf("expires_in %v", m["expires_in"])
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+m["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("access token refused: %v %v", err, resp.StatusCode)
	}
	resp.Body.Close()
	// Form body with the new secret.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}.Encode()
	code, m2, _ := post(t, f.srv.URL, "application/x-www-form-urlencoded", form)
	if code != 200 || m2["refresh_token"] == m["refresh_token"] {
		t.Fatalf("form grant: %d %v", code, m2)
	}
	// The first secret again, after its successor was used: reuse, the device is revoked.
	code, e, _ := post(t, f.srv.URL, "application/json", jsonBody(s1))
	if code != 400 || e["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", code, e)
	}
	code, e, _ = post(t, f.srv.URL, "application/json", jsonBody(m2["refresh_token"].(string)))
	if code != 400 || e["error"] != "invalid_grant" {
		t.Fatalf("after reuse: %d %v", code, e)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	f := newFixture(t, 100)
	for _, tc := range []struct{ ctype, body, want string }{
		{"application/json", `{"grant_type":"password","username":"a"}`, "unsupported_grant_type"},
		{"application/json", `{"refresh_token":"x"}`, "invalid_request"},
		{"application/json", `{"grant_type":"refresh_token"}`, "invalid_request"},
		{"application/json", `{`, "invalid_request"},
		{"text/plain", jsonBody("x"), "invalid_request"},
		{"application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=a&refresh_token=b", "invalid_request"},
		{"application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=%zz", "invalid_request"},
		{"application/json", jsonBody("ssr_nope"), "invalid_grant"},
	} {
		code, m, _ := post(t, f.srv.URL, tc.ctype, tc.body)
		if code != 400 || m["error"] != tc.want {
			t.Errorf("%s %q: %d %v, want %s", tc.ctype, tc.body, code, m, tc.want)
		}
	}
	code, _, _ := post(t, f.srv.URL, "application/json", `{"grant_type":"refresh_token","refresh_token":"`+strings.Repeat("a", 70000)+`"}`)
	if code != 413 {
		t.Errorf("oversized body: %d", code)
	}
}

func TestTokenEndpointLimiter(t *testing.T) {
	f := newFixture(t, 3)
	s := f.enroll(t)
	for range 3 {
		if code, _, _ := post(t, f.srv.URL, "application/json", jsonBody("ssr_guess")); code != 400 {
			t.Fatalf("failure %d", code)
		}
	}
	code, m, h := post(t, f.srv.URL, "application/json", jsonBody("ssr_guess"))
	if code != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("limited: %d %v", code, h)
	}
	if e, _ := m["error"].(map[string]any); e["code"] != "rate_limited" {
		t.Fatalf("429 must keep the API's error shape: %v", m)
	}
	// A valid secret is never refused by the limiter.
	if code, _, _ := post(t, f.srv.URL, "application/json", jsonBody(s)); code != 200 {
		t.Fatalf("valid secret while limited: %d", code)
	}
}

func TestTokenEndpointRace(t *testing.T) {
	f := newFixture(t, 100)
	s := f.enroll(t)
	var wg sync.WaitGroup
	got := make([]string, 6)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, m, _ := post(t, f.srv.URL, "application/json", jsonBody(s)); code == 200 {
				got[i] = m["refresh_token"].(string) + m["access_token"].(string)
			}
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatal("racing refreshes with one secret must all get the same pair")
		}
	}
}

func FuzzTokenEndpoint(f *testing.F) {
	fx := newFixture(f, 1<<20)
	secret := fx.enroll(f)
	f.Add("application/json", jsonBody(secret))
	f.Add("application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token="+secret)
	f.Add("application/json", `{"grant_type":["refresh_token"]}`)
	f.Add("application/x-www-form-urlencoded", "a=%&b")
	f.Fuzz(func(t *testing.T, ctype, body string) {
		if strings.IndexFunc(ctype, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) >= 0 {
			t.Skip("not a sendable header value")
		}
		code, m, _ := post(t, fx.srv.URL, ctype, body)
		switch code {
		case 200:
			if m["access_token"] == "" || m["refresh_token"] == "" || m["token_type"] != "Bearer" {
				t.Fatalf("200 without a pair: %v", m)
			}
		case 400:
			switch m["error"] {
			case "invalid_request", "invalid_grant", "unsupported_grant_type":
			default:
				t.Fatalf("400 with error %v", m["error"])
			}
		case 413:
		default:
			t.Fatalf("status %d: %v", code, m)
		}
	})
}
