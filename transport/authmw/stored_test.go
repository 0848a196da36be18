package authmw

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
)

// TestStoredForHandler: what the middleware keeps for the handler (the principal, the
// client address) is what it verified and determined, also after a handler replaced
// the request with a derived context; a route without the middleware, or a request
// whose authentication failed, shows no principal and the TCP peer, whatever
// X-Forwarded-For claims.
func TestStoredForHandler(t *testing.T) {
	e := newEnv(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	tok, rec := issue(t, e.svc, "acme", "alice", auth.RoleWrite)
	type seen struct {
		called bool
		p      *auth.Principal
		ctxP   *auth.Principal
		addr   string
	}
	var got seen
	look := func(c echo.Context) error {
		got = seen{called: true, p: PrincipalFrom(c), ctxP: auth.FromContext(c.Request().Context()), addr: ClientAddr(c).String()}
		return c.NoContent(http.StatusNoContent)
	}
	// A handler in front of look that derives a new context, as a later middleware may.
	derive := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			type k struct{}
			c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), k{}, 1)))
			return next(c)
		}
	}
	ech := echo.New()
	ech.GET("/auth", look, e.mw.Tenant(auth.RoleRead))
	ech.GET("/derived", look, e.mw.Tenant(auth.RoleRead), derive)
	ech.GET("/open", look)
	cases := []struct {
		name, path, remote, token string
		xff                       string
		wantCalled, wantP         bool
		wantAddr                  string
	}{
		{"direct", "/auth", "192.0.2.1:1000", tok, "", true, true, "192.0.2.1"},
		{"via trusted proxy", "/auth", "10.1.1.1:1000", tok, "203.0.113.9", true, true, "203.0.113.9"},
		{"derived context", "/derived", "10.1.1.1:1000", tok, "203.0.113.9", true, true, "203.0.113.9"},
		{"no middleware", "/open", "10.1.1.1:1000", tok, "203.0.113.9", true, false, "10.1.1.1"},
		// attacks
		{"spoofed XFF from an untrusted peer", "/auth", "192.0.2.1:1000", tok, "10.9.9.9", true, true, "192.0.2.1"},
		{"bad token", "/auth", "192.0.2.1:1000", tok + "x", "", false, false, ""},
		{"no token", "/auth", "192.0.2.1:1000", "", "", false, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got = seen{}
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			r.RemoteAddr = tc.remote
			if tc.token != "" {
				r.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			w := httptest.NewRecorder()
			ech.ServeHTTP(w, r)
			if got.called != tc.wantCalled {
				t.Fatalf("handler called %v (status %d), want %v", got.called, w.Code, tc.wantCalled)
			}
			if !tc.wantCalled {
				return
			}
			if (got.p != nil) != tc.wantP || got.ctxP != got.p {
				t.Fatalf("principal %v, in the context %v", got.p, got.ctxP)
			}
			if got.p != nil && (got.p.JTI != rec.JTI || got.p.Subject != "alice") {
				t.Fatalf("principal %+v, want the token's", got.p)
			}
			if got.addr != tc.wantAddr {
				t.Fatalf("client address %s, want %s", got.addr, tc.wantAddr)
			}
		})
	}
}

// TestStoredWithoutProxies: with no trusted proxy the client address is the TCP peer
// (an IPv4-mapped IPv6 peer as IPv4, any zone dropped), whatever X-Forwarded-For
// says, and the same from ClientAddr as from ClientAddrOf.
func TestStoredWithoutProxies(t *testing.T) {
	e := newEnv(t, Options{})
	tok, _ := issue(t, e.svc, "acme", "alice", auth.RoleRead)
	var got netip.Addr
	ech := echo.New()
	ech.GET("/auth", func(c echo.Context) error {
		got = ClientAddr(c)
		if got != e.mw.ClientAddrOf(c.Request()) {
			t.Errorf("ClientAddr %s, ClientAddrOf %s", got, e.mw.ClientAddrOf(c.Request()))
		}
		return c.NoContent(http.StatusNoContent)
	}, e.mw.Tenant(auth.RoleRead))
	for _, tc := range []struct{ remote, xff, want string }{
		{"192.0.2.1:1000", "", "192.0.2.1"},
		{"192.0.2.1:1000", "10.9.9.9", "192.0.2.1"}, // attack: a spoofed XFF
		{"[::ffff:192.0.2.7]:1000", "", "192.0.2.7"},
		{"[fe80::1%eth0]:1000", "", "fe80::1"},
		{"[2001:db8::5]:1000", "203.0.113.9", "2001:db8::5"},
	} {
		got = netip.Addr{}
		r := httptest.NewRequest(http.MethodGet, "/auth", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("Authorization", "Bearer "+tok)
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		w := httptest.NewRecorder()
		ech.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent || got.String() != tc.want {
			t.Errorf("%s (XFF %q): status %d, address %s, want %s", tc.remote, tc.xff, w.Code, got, tc.want)
		}
	}
}

// TestStoredContext: the context the middleware gives the handler is the request's
// own below the principal: its values, deadline and cancellation (also of a context
// derived from it) are the parent's.
func TestStoredContext(t *testing.T) {
	e := newEnv(t, Options{})
	tok, _ := issue(t, e.svc, "acme", "alice", auth.RoleRead)
	type key struct{}
	deadline := time.Now().Add(time.Hour)
	parent, cancelDeadline := context.WithDeadline(context.WithValue(context.Background(), key{}, "v"), deadline)
	defer cancelDeadline()
	parent, cancel := context.WithCancel(parent)
	ech := echo.New()
	ech.GET("/auth", func(c echo.Context) error {
		ctx := c.Request().Context()
		if ctx.Value(key{}) != "v" {
			t.Error("a value of the request's context is lost")
		}
		if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
			t.Errorf("deadline %v %v", d, ok)
		}
		if auth.FromContext(ctx) != PrincipalFrom(c) || PrincipalFrom(c) == nil {
			t.Error("no principal, or two different ones")
		}
		child, stop := context.WithCancel(ctx)
		defer stop()
		if ctx.Err() != nil {
			t.Error("cancelled early")
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Error("the request's cancellation does not reach the handler's context")
		}
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Error("the request's cancellation does not reach a context derived from it")
		}
		if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
			t.Errorf("errors %v, %v", ctx.Err(), child.Err())
		}
		return c.NoContent(http.StatusNoContent)
	}, e.mw.Tenant(auth.RoleRead))
	r := httptest.NewRequest(http.MethodGet, "/auth", nil).WithContext(parent)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	ech.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d", w.Code)
	}
}

// TestCachedSignatureNotReused (attacks): once a token is verified (and cached), its
// signature under another header or payload (a raised role, another subject, another
// valid token's claims) is refused, and the genuine token still works.
func TestCachedSignatureNotReused(t *testing.T) {
	e := newEnv(t, Options{})
	tok, _ := issue(t, e.svc, "acme", "alice", auth.RoleRead)
	other, _ := issue(t, e.svc, "acme", "bob", auth.RoleAdmin)
	url := e.srv.URL + "/api/list"
	for _, tk := range []string{tok, other} {
		if st, _, _ := request(t, "GET", url, []string{"Bearer " + tk}, nil); st != 200 {
			t.Fatalf("genuine token: %d", st)
		}
	}
	parts, oparts := strings.Split(tok, "."), strings.Split(other, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	raised := strings.Replace(string(payload), `"role":"read"`, `"role":"admin"`, 1)
	renamed := strings.Replace(string(payload), `"sub":"alice"`, `"sub":"mallory"`, 1)
	if raised == string(payload) || renamed == string(payload) {
		t.Fatalf("payload %s has no role or sub to change", payload)
	}
	enc := base64.RawURLEncoding.EncodeToString
	for name, forged := range map[string]string{
		"role raised":                      parts[0] + "." + enc([]byte(raised)) + "." + parts[2],
		"subject changed":                  parts[0] + "." + enc([]byte(renamed)) + "." + parts[2],
		"another token's claims":           oparts[0] + "." + oparts[1] + "." + parts[2],
		"another token's signature":        parts[0] + "." + parts[1] + "." + oparts[2],
		"signature with a byte changed":    parts[0] + "." + parts[1] + "." + flipLast(parts[2]),
		"the signed part and no signature": parts[0] + "." + parts[1] + ".",
	} {
		if st, _, _ := request(t, "GET", url, []string{"Bearer " + forged}, nil); st != 401 {
			t.Errorf("%s: status %d, want 401", name, st)
		}
	}
	if st, _, _ := request(t, "GET", url, []string{"Bearer " + tok}, nil); st != 200 {
		t.Fatalf("genuine token after the attempts: %d", st)
	}
}

// flipLast changes the last character of a base64url string to another valid one.
func flipLast(s string) string {
	c := byte('A')
	if s[len(s)-1] == 'A' {
		c = 'Q'
	}
	return s[:len(s)-1] + string(c)
}
