package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

// openTestNode opens a cluster node on url with the shared blob directory blobs and
// a data dir of its own.
func openTestNode(t *testing.T, url, bus, blobs, kek string) *Node {
	t.Helper()
	return startTestNode(t, Cluster{Cluster: config.Cluster{Postgres: url, Bus: bus, Blobs: "dir:" + blobs}, KEKFile: kek})
}

// startTestNode opens a node of cl with a data dir of its own and runs its
// registry's and auth's loops until the test ends.
func startTestNode(t *testing.T, cl Cluster) *Node {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{Cluster: cl, Logger: slog.New(slog.DiscardHandler)}
	n := &Node{dataDir: dir}
	if err := openCluster(ctx, n, dir, o, o.Logger); err != nil {
		n.Close()
		t.Fatal(err)
	}
	bg, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { n.Tenants.Run(bg) })
	wg.Go(func() { n.Auth.Run(bg) })
	t.Cleanup(func() { cancel(); wg.Wait(); n.Close() })
	return n
}

// testCluster makes a cluster for a test on a fresh PostgreSQL database with the bus
// bus, a shared blob directory and a KEK file, and returns a function that opens
// one more node of it.
func testCluster(t *testing.T, bus string) (open func() *Node) {
	t.Helper()
	url := pgtest.Postgres(t)
	kek := filepath.Join(t.TempDir(), "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	blobs := t.TempDir()
	return func() *Node { return openTestNode(t, url, bus, blobs, kek) }
}

// TestClusterNodes: two nodes on one PostgreSQL, over LISTEN/NOTIFY and over Redis: a
// tenant created on A is usable on B; B's listener gets every change made on A once,
// in seq order; a file uploaded on A downloads from B; a token issued on A verifies on
// B and its revocation on A is seen by B within a second.
func TestClusterNodes(t *testing.T) {
	for _, bus := range []string{"postgres", "redis"} {
		t.Run(bus, func(t *testing.T) {
			busURL := bus
			if bus == "redis" {
				busURL = servicetest.Redis(t)
			}
			open := testCluster(t, busURL)
			clusterNodes(t, open(), open())
		})
	}
}

func clusterNodes(t *testing.T, a, b *Node) {
	ctx := context.Background()
	if _, err := a.Tenants.Create(ctx, "team", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	var spB *tenants.Space
	waitUntil(t, 15*time.Second, "tenant on B", func() bool {
		var err error
		spB, err = b.Tenants.Space(ctx, "team")
		return err == nil
	})
	var mu sync.Mutex
	var got []int64
	b.Tenants.ListenByID(func(_ string, ev protocol.Event) {
		mu.Lock()
		got = append(got, ev.Seq)
		mu.Unlock()
	}, nil)
	spA, err := a.Tenants.Space(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := 0; i < n; i++ {
		if _, _, err := spA.Mkdir(ctx, fmt.Sprintf("d%02d", i), tenants.Source{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 15*time.Second, "every change on B", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= n
	})
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	for i, s := range got {
		if s != int64(i+1) {
			t.Fatalf("B got %v, want 1..%d once each in order", got, n)
		}
	}
	mu.Unlock()
	if _, seq := spB.Head(); seq != n {
		t.Errorf("B's head %d, want %d", seq, n)
	}
	body := "hello from A"
	if _, _, err := spA.Put(ctx, "d00/f.txt", strings.NewReader(body), tenants.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	f, _, err := spB.Open(ctx, "d00/f.txt")
	if err != nil {
		t.Fatalf("download from B: %v", err)
	}
	b2, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(b2) != body {
		t.Fatalf("B read %q, %v; want %q", b2, err, body)
	}

	tok, rec, err := a.Auth.IssueTenantToken(ctx, "team", "alice", "read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var p *auth.Principal
	waitUntil(t, 15*time.Second, "A's token verifies on B", func() bool {
		p, err = b.Auth.Verify(ctx, tok, auth.AudienceTenant)
		return err == nil
	})
	if err := a.Auth.RevokeJTI(ctx, rec.JTI); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitUntil(t, 3*time.Second, "revocation seen on B", func() bool { return b.Auth.Check(ctx, p) != nil })
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("revocation took %v on B, want about a second at most", d)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// twoNodeSpaces opens two nodes of one PostgreSQL cluster, creates tenant name on the
// first and returns that node with the tenant's space on each node.
func twoNodeSpaces(t *testing.T, name string) (a *Node, spA, spB *tenants.Space) {
	t.Helper()
	ctx := context.Background()
	open := testCluster(t, "postgres")
	a, b := open(), open()
	if _, err := a.Tenants.Create(ctx, name, tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	spA, err := a.Tenants.Space(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 3*time.Second, "tenant on B", func() bool {
		spB, err = b.Tenants.Space(ctx, name)
		return err == nil
	})
	return a, spA, spB
}

// putBefore uploads body at p through sp, calling before (if not nil) just before
// the upload commits.
func putBefore(ctx context.Context, sp *tenants.Space, p, body string, before func() error) error {
	_, _, err := sp.Put(ctx, p, strings.NewReader(body), tenants.PutOptions{Size: int64(len(body)), BeforeCommit: before})
	return err
}
