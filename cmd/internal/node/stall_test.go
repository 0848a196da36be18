package node

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

// TestPostgresStallGivesUp: PostgreSQL stops answering without closing anything (a
// proxy that holds the node's connections open and forwards nothing, as a network
// that drops packets does). Every request path that waits on it (an upload's commit,
// a mkdir, a read of the index, a listing, the changes feed, a token check) gives up
// within Cluster.StatementTimeout with 503 unavailable, and works again once
// PostgreSQL answers. Before, each of them waited for TCP to give up (pgx sets no
// deadline of its own: minutes to hours), holding the request and, for a commit, the
// tenant's later uploads on the node.
func TestPostgresStallGivesUp(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(pgtest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := servicetest.NewStallProxy(t, u.Host)
	u.Host = proxy.Addr()
	kek := filepath.Join(t.TempDir(), "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	const bound = 2 * time.Second
	n := startTestNode(t, Cluster{Cluster: config.Cluster{Postgres: u.String(), Blobs: "dir:" + t.TempDir()}, KEKFile: kek,
		StatementTimeout: bound})
	if _, err := n.Tenants.Create(ctx, "team", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	sp, err := n.Tenants.Space(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	put := func(p string) error {
		_, _, err := sp.Put(ctx, p, strings.NewReader(p), tenants.PutOptions{Size: int64(len(p))})
		return err
	}
	if err := put("before.txt"); err != nil {
		t.Fatal(err)
	}
	_, rec, err := n.Auth.IssueTenantToken(ctx, "team", "alice", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"upload": func() error { return put("during.txt") },
		"mkdir":  func() error { _, _, err := sp.Mkdir(ctx, "dir", tenants.Source{}); return err },
		"stat":   func() error { _, err := sp.Stat(ctx, "before.txt"); return err },
		"list": func() error {
			return sp.List(ctx, "", true, func(string, int64) error { return nil }, func(protocol.Metadata) error { return nil })
		},
		"changes": func() error { _, err := sp.Changes(ctx, 0, "", 10); return err },
		"revoke":  func() error { return n.Auth.RevokeJTI(ctx, rec.JTI) },
	}
	proxy.Stall()
	var wg sync.WaitGroup
	for name, op := range ops {
		wg.Go(func() {
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- op() }()
			select {
			case err := <-done:
				took := time.Since(start)
				if code := protocol.CodeOf(err); code != protocol.CodeUnavailable {
					t.Errorf("%s with PostgreSQL stalled: %v (code %q), want unavailable", name, err, code)
				}
				if took > 3*bound+time.Second {
					t.Errorf("%s gave up after %v, want about %v", name, took, bound)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s still waits for PostgreSQL after 30 s", name)
			}
		})
	}
	wg.Wait()
	proxy.Resume()
	waitUntil(t, 15*time.Second, "an upload after PostgreSQL answers again", func() bool { return put("after.txt") == nil })
	if _, err := sp.Stat(ctx, "after.txt"); err != nil {
		t.Fatalf("stat after the stall: %v", err)
	}
}
