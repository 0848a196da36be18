package api_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlindex"
	"github.com/syncspace/syncspace/tenants/sqlite"
	"github.com/syncspace/syncspace/transport/api"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/httperr"
)

// staleLookup is the registry as auth sees it, except that a pinned tenant keeps
// the id it had: a stale cache, the one fault that lets a token of a deleted tenant
// pass auth's Check.
type staleLookup struct {
	reg    *tenants.Registry
	mu     sync.Mutex
	pinned map[string]string
}

func (s *staleLookup) LookupTenant(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	id, ok := s.pinned[name]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	return s.reg.LookupTenant(ctx, name)
}

// TestSpaceChecksTenantID (issue 11 item 9): api.space() is a second wall behind
// auth's Check. A token of an earlier tenant of the same name (deleted, then created
// again) that got past Check, here through a stale tenant lookup, is 401 on every
// route and never reads or writes the new tenant's files. Before the fix it listed,
// read and wrote them.
func TestSpaceChecksTenantID(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
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
	first, err := reg.Create(ctx, "acme", tenants.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lookup := &staleLookup{reg: reg, pinned: map[string]string{}}
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{KeyDir: filepath.Join(dir, "keys")}, lookup, logger)
	if err != nil {
		t.Fatal(err)
	}
	mw := authmw.New(svc, authmw.Options{Logger: logger})
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = httperr.Handler(logger)
	if err := api.Register(e, api.Options{Registry: reg, Auth: svc, MW: mw, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	oldTok, _, err := svc.IssueTenantToken(ctx, "acme", "alice", auth.RoleWrite, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	call := func(tok, method, path string, body []byte) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := call(oldTok, "PUT", "/api/files/old.txt", []byte("old")); st != 201 {
		t.Fatalf("upload with the first tenant's token: %d %s", st, body)
	}

	// The tenant is deleted and created again; auth's view of it stays stale.
	lookup.mu.Lock()
	lookup.pinned["acme"] = first.ID
	lookup.mu.Unlock()
	if err := reg.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	second, err := reg.Create(ctx, "acme", tenants.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatal("tenant id reused")
	}
	sp, err := reg.Space(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sp.Put(ctx, "secret.txt", bytes.NewReader([]byte("new tenant's")), tenants.PutOptions{Size: 12}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		method, path string
		body         []byte
	}{
		{"GET", "/api/list?recursive=true", nil},
		{"GET", "/api/files/secret.txt", nil},
		{"PUT", "/api/files/planted.txt", []byte("x")},
		{"DELETE", "/api/files/secret.txt", nil},
		{"GET", "/api/changes?since=0", nil},
		{"GET", "/api/usage", nil},
		{"GET", "/api/archive", nil},
	} {
		st, body := call(oldTok, c.method, c.path, c.body)
		if st != http.StatusUnauthorized {
			t.Fatalf("%s %s with the earlier tenant's token: %d %s, want 401", c.method, c.path, st, body)
		}
	}
	if _, err := sp.Stat(ctx, "planted.txt"); err == nil {
		t.Fatal("the earlier tenant's token wrote into the new tenant")
	}
	if _, err := sp.Stat(ctx, "secret.txt"); err != nil {
		t.Fatalf("the new tenant's file: %v", err)
	}

	// A token of the new tenant is served (the wall is not in the way).
	lookup.mu.Lock()
	delete(lookup.pinned, "acme")
	lookup.mu.Unlock()
	newTok, _, err := svc.IssueTenantToken(ctx, "acme", "alice", auth.RoleWrite, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := call(newTok, "GET", "/api/files/secret.txt", nil); st != 200 || body != "new tenant's" {
		t.Fatalf("new tenant's token: %d %s", st, body)
	}
}
