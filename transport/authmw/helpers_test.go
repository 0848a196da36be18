package authmw

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	_ "modernc.org/sqlite"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/httperr"
)

// memTenants is a TenantLookup over a map standing in for *tenants.Registry.
type memTenants struct {
	mu sync.Mutex
	m  map[string]string
}

func (t *memTenants) LookupTenant(_ context.Context, name string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.m[name]; ok {
		return id, nil
	}
	return "", protocol.Errorf(protocol.CodeNotFound, "no such tenant")
}

func (t *memTenants) set(name, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == "" {
		delete(t.m, name)
	} else {
		t.m[name] = id
	}
}

type env struct {
	dir     string
	db      *sql.DB
	tenants *memTenants
	svc     *auth.Service
	mw      *Middleware
	srv     *httptest.Server
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "syncd.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ten := &memTenants{m: map[string]string{"acme": "tid-acme-1", "beta": "tid-beta-1"}}
	svc, err := sqlitestore.OpenService(context.Background(), db, auth.Config{KeyDir: filepath.Join(dir, "keys")}, ten, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mw := New(svc, o)
	e := newTestEcho(mw, true)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &env{dir: dir, db: db, tenants: ten, svc: svc, mw: mw, srv: srv}
}

// newTestEcho mounts test routes shaped like syncd's: /api read and write routes and
// an /admin group, all behind mw (or with no auth at all when withAuth is false).
func newTestEcho(mw *Middleware, withAuth bool) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = httperr.Handler(slog.New(slog.DiscardHandler))
	e.IPExtractor = mw.IPExtractor()
	ok := func(c echo.Context) error {
		p := PrincipalFrom(c)
		if p == nil {
			return c.JSON(http.StatusOK, map[string]string{"subject": "anonymous"})
		}
		if auth.FromContext(c.Request().Context()) != p {
			return protocol.Errorf(protocol.CodeInternal, "principal missing from request context")
		}
		return c.JSON(http.StatusOK, map[string]string{"subject": p.Subject, "tenant": p.Tenant, "role": p.Role, "addr": ClientAddr(c).String()})
	}
	var read, write, ops echo.MiddlewareFunc = nil, nil, nil
	if withAuth {
		read, write, ops = mw.Tenant(auth.RoleRead), mw.Tenant(auth.RoleWrite), mw.Ops()
	}
	mws := func(m echo.MiddlewareFunc) []echo.MiddlewareFunc {
		if m == nil {
			return nil
		}
		return []echo.MiddlewareFunc{m}
	}
	e.GET("/api/list", ok, mws(read)...)
	e.PUT("/api/files/*", ok, mws(write)...)
	e.GET("/admin/tenants", ok, mws(ops)...)
	e.GET("/metrics", ok, mws(ops)...)
	return e
}

// forger signs arbitrary tokens with the service's own current key, read from the key
// directory, so that each claim check can be hit in isolation.
type forger struct {
	kid  string
	priv ed25519.PrivateKey
}

func newForger(t testing.TB, e *env) *forger {
	t.Helper()
	keys, err := e.svc.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var kid string
	for _, k := range keys {
		if k.Signing {
			kid = k.KID
		}
	}
	data, err := os.ReadFile(filepath.Join(e.dir, "keys", kid+".key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &forger{kid: kid, priv: k.(ed25519.PrivateKey)}
}

// sign signs claims with header overrides (a nil value deletes a header).
func (f *forger) sign(t testing.TB, claims map[string]any, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(claims))
	tok.Header["kid"] = f.kid
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(f.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decodePart(t testing.TB, tok string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodePart(m map[string]any) string {
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// request sends method url with the given Authorization header values and extra
// headers and returns status, headers and body.
func request(t testing.TB, method, url string, authz []string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range authz {
		req.Header.Add("Authorization", a)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func issue(t testing.TB, svc *auth.Service, tenant, sub, role string) (string, auth.TokenRecord) {
	t.Helper()
	tok, rec, err := svc.IssueTenantToken(context.Background(), tenant, sub, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok, rec
}
