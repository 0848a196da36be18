package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// runSmallGet: an authenticated GET and HEAD of a small file (1 KiB) through syncd's
// whole stack (bearer token, space, index, disk) against a minimal net/http server
// doing http.ServeFile on the same bytes, in alternating windows, median of the rounds.
func runSmallGet(ctx context.Context, r *runner) []Result {
	const scen, metric = "small-get", "req/s"
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	env, tok, err := startBenchSyncd(ctx, dir)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer env.close()
	const conc = 8
	cl := newHTTPClient(conc)
	body := make([]byte, 1024)
	fill(body, 5)
	if err := put(ctx, cl, env.url+"/api/files/small.bin", tok, body, sha256Hex(body)); err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	peerDir := filepath.Join(dir, "peer")
	if err := os.MkdirAll(peerDir, 0o755); err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	if err := os.WriteFile(filepath.Join(peerDir, "small.bin"), body, 0o644); err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	sfURL, stop, err := serveLocal(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(peerDir, "small.bin"))
	}))
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer stop()

	window := r.dur(2*time.Second, 300*time.Millisecond)
	rounds := r.size(7, 2)
	var out []Result
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		var ss, peer []float64
		for i := -1; i < rounds; i++ {
			a, err := hammerMethod(ctx, cl, method, env.url+"/api/files/small.bin", tok, conc, window)
			if err != nil {
				return append(out, failed(scen, metric, "http.ServeFile", fmt.Errorf("syncspace %s: %w", method, err)))
			}
			b, err := hammerMethod(ctx, cl, method, sfURL+"/small.bin", "", conc, window)
			if err != nil {
				return append(out, failed(scen, metric, "http.ServeFile", err))
			}
			if i >= 0 {
				ss, peer = append(ss, a), append(peer, b)
			}
		}
		notes := fmt.Sprintf("%s of a 1 KiB file, %d keep-alive clients, %s windows alternating, median of %d; "+
			"syncspace: bearer token, tenant space, index, disk; peer: net/http doing http.ServeFile, no auth", method, conc, window, rounds)
		out = append(out, row(scen, method+" "+metric, median(ss), "http.ServeFile", median(peer), notes, ratioAtLeast(0.7)))
	}
	return out
}

// hammerMethod runs conc clients sending method requests to url for d and returns
// requests per second; any status but 200 is an error.
func hammerMethod(ctx context.Context, cl *http.Client, method, url, token string, conc int, d time.Duration) (float64, error) {
	var count atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 8<<10)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := send(ctx, cl, method, url, token, buf); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return float64(count.Load()) / time.Since(t0).Seconds(), nil
}
