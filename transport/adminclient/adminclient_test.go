package adminclient_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlindex"
	"github.com/syncspace/syncspace/tenants/sqlite"
	"github.com/syncspace/syncspace/transport/admin"
	"github.com/syncspace/syncspace/transport/adminclient"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/httperr"
)

type env struct {
	svc  *auth.Service
	base string
	ops  string
}

// newEnv serves the real admin API (transport/admin) on 127.0.0.1:0.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logger := slog.New(slog.DiscardHandler)
	reg, err := sqlindex.OpenRegistry(ctx, db, dir, tenants.Limits{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{KeyDir: filepath.Join(dir, "keys")}, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = httperr.Handler(logger)
	mw := authmw.New(svc, authmw.Options{Logger: logger})
	if err := admin.Register(e.Group("/admin"), admin.Options{Auth: svc, Tenants: reg, MW: mw, Logger: logger, ParseSize: config.ParseSize}); err != nil {
		t.Fatal(err)
	}
	base := serve(t, e)
	ops, _, err := svc.IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, base: base, ops: ops}
}

// serve serves h on a loopback port and returns its root URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return "http://" + ln.Addr().String()
}

func (e *env) client(t *testing.T, token string) *adminclient.Client {
	t.Helper()
	c, err := adminclient.New(e.base+"/", token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantCode checks err is a *protocol.Error with code.
func wantCode(t *testing.T, err error, code protocol.Code) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != code || pe.Message == "" {
		t.Fatalf("error %v, want a *protocol.Error with code %s and a message", err, code)
	}
}

func TestTenantsTokensKeysAudit(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, e.ops)
	ctx := context.Background()

	tn, err := c.CreateTenant(ctx, adminclient.NewTenant{Name: "acme", Quota: 1 << 30, MaxEntries: 10})
	if err != nil || tn.Name != "acme" || tn.Quota != 1<<30 || tn.MaxEntries != 10 || tn.ID == "" {
		t.Fatalf("create: %+v %v", tn, err)
	}
	_, err = c.CreateTenant(ctx, adminclient.NewTenant{Name: "acme"})
	wantCode(t, err, protocol.CodeConflict)
	ts, err := c.ListTenants(ctx)
	if err != nil || len(ts) != 1 || ts[0].Name != "acme" {
		t.Fatalf("list: %+v %v", ts, err)
	}

	is, err := c.IssueToken(ctx, "acme", "u", "read", time.Hour)
	if err != nil || is.Token == "" || is.JTI == "" || time.Until(is.ExpiresAt) <= 0 {
		t.Fatalf("issue: %+v %v", is, err)
	}
	p, err := e.svc.Verify(ctx, is.Token, "syncspace")
	if err != nil || p.Subject != "u" {
		t.Fatalf("issued token does not verify: %+v %v", p, err)
	}
	_, err = c.IssueToken(ctx, "nope", "u", "read", time.Hour)
	wantCode(t, err, protocol.CodeNotFound)
	recs, err := c.ListTokens(ctx, auth.TokenFilter{Tenant: "acme", Subject: "u"})
	if err != nil || len(recs) != 1 || recs[0].JTI != is.JTI {
		t.Fatalf("list tokens: %+v %v", recs, err)
	}
	if err := c.RevokeJTI(ctx, is.JTI); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.RevokeJTI(ctx, "no-such-jti"), protocol.CodeNotFound)
	if _, err := c.IssueToken(ctx, "acme", "v", "write", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := c.RevokeSubject(ctx, "acme", "v"); err != nil || n != 1 {
		t.Fatalf("revoke subject: %d %v", n, err)
	}

	k, err := c.RotateKey(ctx)
	if err != nil || k.KID == "" || !k.Signing {
		t.Fatalf("rotate: %+v %v", k, err)
	}
	keys, err := c.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	if err := c.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.DeleteTenant(ctx, "acme"), protocol.CodeNotFound)

	entries, err := c.ListAudit(ctx, 3)
	if err != nil || len(entries) != 3 || entries[2].Action != "tenant.delete" {
		t.Fatalf("audit: %+v %v", entries, err)
	}
	// Retiring the key that signed the ops token ends the session: last.
	for _, old := range keys {
		if old.KID != k.KID {
			if err := c.RetireKey(ctx, old.KID); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err = c.ListKeys(ctx)
	wantCode(t, err, protocol.CodeUnauthenticated)
}

// TestErrors: the server's code travels back; an answer that is not the API's error
// JSON and an unreachable server are plain errors; a redirect is not followed.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.client(t, "not-a-token").ListTenants(ctx)
	wantCode(t, err, protocol.CodeUnauthenticated)
	tenantTok := func() string {
		if _, err := e.client(t, e.ops).CreateTenant(ctx, adminclient.NewTenant{Name: "t"}); err != nil {
			t.Fatal(err)
		}
		is, err := e.client(t, e.ops).IssueToken(ctx, "t", "u", "admin", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return is.Token
	}()
	_, err = e.client(t, tenantTok).ListKeys(ctx)
	if protocol.CodeOf(err) != protocol.CodeForbidden && protocol.CodeOf(err) != protocol.CodeUnauthenticated {
		t.Fatalf("tenant token on the admin API: %v", err)
	}

	var sawAuth string
	mux := http.NewServeMux()
	mux.HandleFunc("/admin/tenants", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	})
	mux.HandleFunc("/admin/keys", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		sawAuth = r.Header.Get("Authorization")
	})
	base := serve(t, mux)
	c, err := adminclient.New(base, "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListTenants(ctx)
	var pe *protocol.Error
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("plain 502: %v", err)
	}
	if _, err := c.ListKeys(ctx); err == nil || sawAuth != "" {
		t.Fatalf("redirect: err %v, token seen elsewhere %q", err, sawAuth)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c, _ = adminclient.New(dead, "tok", nil)
	if _, err := c.ListAudit(ctx, 0); err == nil || errors.As(err, &pe) {
		t.Fatalf("unreachable server: %v", err)
	}
	for _, bad := range []string{"", "ftp://x", "http://"} {
		if _, err := adminclient.New(bad, "tok", nil); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}
