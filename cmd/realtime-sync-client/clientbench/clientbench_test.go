package clientbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/realtime-sync-client/internal/testenv"
)

// full reports whether to run the benchmark at the sizes of the issue (200 changes,
// 10,000 files) and check its targets: CLIENTBENCH_FULL=1 (without -race).
func full() bool { return os.Getenv("CLIENTBENCH_FULL") == "1" }

func server(t *testing.T) *testenv.Server {
	t.Helper()
	s, err := testenv.Start(context.Background(), filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

func TestPropagationLatency(t *testing.T) {
	s := server(t)
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
	s := server(t)
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
