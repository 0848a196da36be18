package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/transport/api"
	"github.com/syncspace/syncspace/transport/httperr"
	"github.com/syncspace/syncspace/transport/metrics"
	"github.com/syncspace/syncspace/transport/server"
	"github.com/syncspace/syncspace/transport/spaceview"
)

// runDownload: GET of one large file from syncd, nginx (sendfile) and http.ServeFile,
// alternating, median of the rounds.
func runDownload(ctx context.Context, r *runner) []Result {
	const scen, metric = "download", "MiB/s"
	size := r.size(256<<20, 16<<20)
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	env, tok, err := startBenchSyncd(ctx, dir)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer env.close()
	cl := newHTTPClient(4)
	peerDir := filepath.Join(dir, "peer")
	if err := seedDownload(ctx, cl, env.url, tok, peerDir, size); err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	sfURL, stopSF, err := serveLocal(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(peerDir, "big.bin"))
	}))
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer stopSF()
	ngURL, stopNG, ngErr := startNginx(ctx, r, dir, peerDir)
	if ngErr == nil {
		defer stopNG()
	}
	targets := []*dlTarget{
		{name: "syncspace", url: env.url + "/api/files/big.bin", token: tok},
		{name: "http.ServeFile", url: sfURL + "/big.bin"},
		{name: "nginx (sendfile)", url: ngURL + "/big.bin", err: ngErr},
	}
	rounds := r.size(9, 2)
	measureDownloads(ctx, cl, targets, size, rounds)
	ss := targets[0]
	if ss.err != nil {
		return []Result{failed(scen, metric, "", ss.err)}
	}
	ssv := median(ss.vals)
	notes := fmt.Sprintf("%d MiB, one stream, median of %d alternating rounds, client reads into a 256 KiB buffer", size>>20, rounds)
	var out []Result
	for _, t := range targets[1:] {
		switch {
		case t.err != nil && t.name == "nginx (sendfile)":
			out = append(out, withSyncspace(skipped(scen, metric, t.name, t.err.Error()), ssv))
		case t.err != nil:
			out = append(out, failed(scen, metric, t.name, t.err))
		case t.name == "http.ServeFile":
			out = append(out, row(scen, metric, ssv, t.name, median(t.vals), notes, ratioAtLeast(0.9)))
		default:
			out = append(out, row(scen, metric, ssv, t.name, median(t.vals), notes))
		}
	}
	return out
}

// seedDownload puts a file of size bytes on syncd as big.bin and the same content in
// peerDir/big.bin for the peers.
func seedDownload(ctx context.Context, cl *http.Client, url, tok, peerDir string, size int) error {
	data := make([]byte, size)
	fill(data, 1)
	if err := put(ctx, cl, url+"/api/files/big.bin", tok, data, sha256Hex(data)); err != nil {
		return err
	}
	if err := os.MkdirAll(peerDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(peerDir, "big.bin"), data, 0o644)
}

// dlTarget is one server of the download scenario and its figures (MiB/s per round).
type dlTarget struct {
	name, url, token string
	err              error
	vals             []float64
}

// measureDownloads downloads from every target in alternating rounds (round -1 warms
// the page cache and connections); a target's first error ends its rounds.
func measureDownloads(ctx context.Context, cl *http.Client, targets []*dlTarget, size, rounds int) {
	buf := make([]byte, 256<<10)
	for i := -1; i < rounds; i++ {
		for _, t := range targets {
			if t.err != nil {
				continue
			}
			t0 := time.Now()
			n, err := get(ctx, cl, t.url, t.token, buf)
			if err == nil && n != int64(size) {
				err = fmt.Errorf("got %d bytes, want %d", n, size)
			}
			if err != nil {
				t.err = err
				continue
			}
			if i >= 0 {
				t.vals = append(t.vals, float64(n)/(1<<20)/time.Since(t0).Seconds())
			}
		}
	}
}

// startNginx serves root on a loopback port with sendfile on.
func startNginx(ctx context.Context, r *runner, dir, root string) (string, func(), error) {
	bin, err := r.inst.apt(ctx, "nginx", "nginx-light")
	if err != nil {
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(filepath.Join(ndir, "tmp"), 0o755); err != nil {
		return "", nil, err
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes auto;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path %[2]s/tmp/body;
  proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi;
  uwsgi_temp_path %[2]s/tmp/uwsgi;
  scgi_temp_path %[2]s/tmp/scgi;
  server {
    listen 127.0.0.1:%[3]d;
    root %[4]s;
    location / { }
  }
}
`, user, ndir, port, root)
	cfg := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	p, err := startProc("nginx", ndir, bin, []string{"-p", ndir, "-e", filepath.Join(ndir, "error.log"), "-c", cfg}, nil)
	if err != nil {
		return "", nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(ctx, p, url+"/", 10*time.Second, true); err != nil {
		p.stop()
		return "", nil, err
	}
	return url, p.stop, nil
}

// runUpload: PUT of one large body with X-Content-SHA256 to syncd and to the minimal
// durable handler, alternating, median of the rounds.
func runUpload(ctx context.Context, r *runner) []Result {
	const scen, metric = "upload", "MiB/s"
	size := r.size(256<<20, 16<<20)
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	env, tok, err := startBenchSyncd(ctx, dir)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer env.close()
	peerURL, stop, err := startDurablePeer(filepath.Join(dir, "peer"))
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer stop()

	cl := newHTTPClient(4)
	data := make([]byte, size)
	fill(data, 7)
	rounds := r.size(4, 2)
	var ssv, pv []float64
	for i := -1; i < rounds; i++ {
		// New content every time: an equal PUT would be a no-op on syncd.
		fill(data[:64<<10], uint64(100+i))
		sum := sha256Hex(data)
		for _, side := range []string{"syncspace", "peer"} {
			if i%2 != 0 { // alternate which side goes first
				side = map[string]string{"syncspace": "peer", "peer": "syncspace"}[side]
			}
			url, token := peerURL+"/up.bin", ""
			if side == "syncspace" {
				url, token = env.url+"/api/files/up.bin", tok
			}
			t0 := time.Now()
			if err := put(ctx, cl, url, token, data, sum); err != nil {
				return []Result{failed(scen, metric, "minimal durable handler", fmt.Errorf("%s: %w", side, err))}
			}
			v := float64(size) / (1 << 20) / time.Since(t0).Seconds()
			if i < 0 {
				continue
			}
			if side == "syncspace" {
				ssv = append(ssv, v)
			} else {
				pv = append(pv, v)
			}
		}
	}
	notes := fmt.Sprintf("%d MiB body with X-Content-SHA256, durable before 2xx on both sides (fsync file + dir); median of %d rounds; fsync-bound on this disk", size>>20, rounds)
	return []Result{row(scen, metric, median(ssv), "minimal durable handler", median(pv), notes, ratioAtLeast(0.9))}
}

// uploadRange PUTs files from..to-1 (4 KiB each, distinct content) with conc workers.
func uploadRange(ctx context.Context, cl *http.Client, from, to, conc int, url func(int) (string, string)) (time.Duration, error) {
	var next atomic.Int64
	next.Store(int64(from))
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 4<<10)
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				fill(body, uint64(i)+1)
				u, tok := url(i)
				if err := put(ctx, cl, u, tok, body, sha256Hex(body)); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return time.Since(t0), firstErr
}

// runAuth: a small authenticated GET (/api/files/small.bin, 1 KiB) through syncd's full
// stack, against the same handler work on a plain Echo route with no authentication:
// same tenant space lookup, path rule and download handler (transport/api.ServeFile),
// behind the same metrics middleware and an equivalent request log line.
func runAuth(ctx context.Context, r *runner) []Result {
	const scen, metric = "auth", "req/s"
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	env, tok, err := startBenchSyncd(ctx, dir)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer env.close()
	cl := newHTTPClient(8)
	body := make([]byte, 1024)
	fill(body, 3)
	if err := put(ctx, cl, env.url+"/api/files/small.bin", tok, body, sha256Hex(body)); err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	offURL, stop, err := serveLocal(authOffEcho(env, "bench"))
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer stop()

	const conc = 8
	window := r.dur(2*time.Second, 500*time.Millisecond)
	rounds := r.size(9, 2)
	var on, off []float64
	for i := -1; i < rounds; i++ {
		a, err := hammerMethod(ctx, cl, http.MethodGet, env.url+"/api/files/small.bin", tok, conc, window)
		if err != nil {
			return []Result{failed(scen, metric, "auth off", fmt.Errorf("auth on: %w", err))}
		}
		b, err := hammerMethod(ctx, cl, http.MethodGet, offURL+"/api/files/small.bin", "", conc, window)
		if err != nil {
			return []Result{failed(scen, metric, "auth off", err)}
		}
		if i >= 0 {
			on, off = append(on, a), append(off, b)
		}
	}
	notes := fmt.Sprintf("GET of a 1 KiB file, %d keep-alive clients, %s windows alternating, median of %d; "+
		"auth off = same space lookup/path rule/download handler (api.ServeFile) on a plain Echo route with the metrics middleware and a request log line, but without syncd's bearer middleware", conc, window, rounds)
	return []Result{row(scen, metric, median(on), "same route, auth off", median(off), notes, ratioAtLeast(0.9))}
}

// authOffEcho serves GET /api/files/* for one fixed tenant without authentication,
// doing the work of syncd's download handler.
func authOffEcho(env *syncEnv, tenant string) http.Handler {
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = httperr.Handler(logger)
	m := metrics.New()
	// The request line as syncd writes it (the same AccessLog path), so that only
	// the authentication differs.
	al := &server.AccessLog{W: io.Discard, Level: slog.LevelInfo}
	e.Use(server.RequestLog(logger, al), m.Middleware(), func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Cache-Control", "private, no-cache")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			return next(c)
		}
	})
	e.GET("/api/files/*", func(c echo.Context) error {
		p, ok := strings.CutPrefix(c.Request().URL.Path, "/api/files/")
		if !ok {
			return echo.ErrNotFound
		}
		p, err := pathrule.Clean(p)
		if err != nil {
			return err
		}
		sp, err := env.d.Registry().Space(c.Request().Context(), tenant)
		if err != nil {
			return err
		}
		// The download handler itself (headers, conditional requests, ranges):
		// only the authentication differs.
		return api.ServeFile(c, spaceview.New(sp, nil), p)
	})
	return e
}
