// Package servertest opens the real stores of a server (the SQLite file, the tenant
// registry and the auth service) in a test's temporary directory, issues tokens and
// dials WebSockets, for the tests of the packages syncd's daemon is built from
// (transport/hub, transport/admin, ...): they mount their own handler over these
// stores. Tests that want the whole syncd use cmd/syncd/syncdtest instead.
//
// The stores are constructed in one function, [Open]; a change of how tenants or auth
// are constructed is fixed there once.
package servertest

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlindex"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// Options shape the stores. The zero value opens the registry with default limits
// and a silent logger, and runs auth's background loop.
type Options struct {
	Limits tenants.Limits
	Logger *slog.Logger // nil: discard
	// Lookup, when not nil, answers auth's tenant lookups instead of a registry, and no
	// registry is opened (a double that injects faults).
	Lookup auth.TenantLookup
	// NoRun leaves auth's background loop (revocations, keys) stopped.
	NoRun bool
}

// Stores are the open stores, closed when the test ends.
type Stores struct {
	Dir      string
	DB       *sql.DB
	Registry *tenants.Registry // nil with Options.Lookup
	Auth     *auth.Service
}

// Open opens the stores in a new temporary directory.
func Open(t testing.TB, o Options) *Stores {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stores{Dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		if !o.NoRun && s.Auth != nil {
			<-runDone
		}
		if s.Registry != nil {
			s.Registry.Close()
		}
		if s.DB != nil {
			s.DB.Close()
		}
	})
	var err error
	if s.DB, err = sqlite.Open(ctx, filepath.Join(s.Dir, "syncd.db")); err != nil {
		t.Fatal(err)
	}
	lookup := o.Lookup
	if lookup == nil {
		if s.Registry, err = sqlindex.OpenRegistry(ctx, s.DB, s.Dir, o.Limits, o.Logger); err != nil {
			t.Fatal(err)
		}
		lookup = s.Registry
	}
	if s.Auth, err = sqlitestore.OpenService(ctx, s.DB, auth.Config{KeyDir: filepath.Join(s.Dir, "keys")}, lookup, o.Logger); err != nil {
		t.Fatal(err)
	}
	if !o.NoRun {
		go func() { s.Auth.Run(ctx); close(runDone) }()
	}
	return s
}

// Tenant creates tenant name in the registry.
func (s *Stores) Tenant(t testing.TB, name string, o tenants.Options) {
	t.Helper()
	if _, err := s.Registry.Create(context.Background(), name, o); err != nil {
		t.Fatalf("create tenant %s: %v", name, err)
	}
}

// Token issues a tenant token valid for ttl.
func (s *Stores) Token(t testing.TB, tenant, subject, role string, ttl time.Duration) string {
	t.Helper()
	tok, _, err := s.Auth.IssueTenantToken(context.Background(), tenant, subject, role, ttl)
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	return tok
}

// OpsToken issues an ops token valid for an hour.
func (s *Stores) OpsToken(t testing.TB, subject string) string {
	t.Helper()
	tok, _, err := s.Auth.IssueOpsToken(context.Background(), subject, time.Hour)
	if err != nil {
		t.Fatalf("issue ops token: %v", err)
	}
	return tok
}

// WSURL turns an http(s) base URL into its ws(s) URL with path.
func WSURL(base, path string) string {
	return "ws" + strings.TrimPrefix(base, "http") + path
}

// Dial opens a WebSocket to url with hdr; the caller closes it. The handshake's
// response is returned for status checks (its body is closed).
func Dial(url string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(url, hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return ws, resp, err
}
