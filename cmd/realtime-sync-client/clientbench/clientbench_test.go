package clientbench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
)

// full reports whether to run the benchmark at the sizes of the issue (200 changes,
// 10,000 files) and check its targets: CLIENTBENCH_FULL=1 (without -race).
func full() bool { return os.Getenv("CLIENTBENCH_FULL") == "1" }

// server is syncd with tenant t1 and a write token.
type server struct{ URL, Token string }

func newServer(t *testing.T) server {
	t.Helper()
	s := syncdtest.Start(t, syncdtest.Options{})
	s.Tenant(t, "t1", tenants.Options{})
	return server{URL: s.URL, Token: s.Token(t, "t1", "alice", "write")}
}

func TestPropagationLatency(t *testing.T) {
	s := newServer(t)
	n := 30
	if full() {
		n = 200
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	lat, err := Propagation(ctx, Target{Server: s.URL, Token: s.Token}, t.TempDir(), n, 1024)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("propagation A→B of a 1 KiB file: %s", lat)
	if full() && (lat.P50 > 100*time.Millisecond || lat.P99 > 300*time.Millisecond) {
		t.Errorf("targets missed: p50 ≤ 100ms, p99 ≤ 300ms")
	}
}

func TestInitialSync(t *testing.T) {
	s := newServer(t)
	files := 300
	if v := os.Getenv("CLIENTBENCH_FILES"); v != "" {
		fmt.Sscan(v, &files)
	}
	if full() {
		files = 10000
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := InitialSyncRun(ctx, Target{Server: s.URL, Token: s.Token}, t.TempDir(), files, 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("initial sync: %s", res)
}
