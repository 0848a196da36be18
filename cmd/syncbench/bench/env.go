package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// syncEnv is an in-process syncd (cmd/syncd/daemon) with its own data dir.
type syncEnv struct {
	d   *daemon.Daemon
	dir string
	url string // http://127.0.0.1:PORT
}

// benchConfig is syncd's config for a benchmark: the defaults, except a loopback port
// chosen by the kernel, info logs (written nowhere: formatted, then discarded) and no
// per-token socket cap (the hub scenarios open thousands of sockets with one token) and
// connection caps raised to the most config allows (every benchmark client dials from
// one loopback address, where the default per-address cap of 256 would refuse them).
func benchConfig(dataDir, listen string) map[string]any {
	return map[string]any{
		"listen":   listen,
		"data_dir": dataDir,
		"log":      map[string]string{"level": "info"},
		"limits": map[string]any{"ws_per_token": 1 << 20, "min_free_disk": "256MiB",
			"max_connections": 1 << 20, "max_connections_per_ip": 1 << 20},
	}
}

// writeConfig writes cfg as JSON to path.
func writeConfig(path string, cfg map[string]any) error {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// startSyncd starts syncd in this process with data in dir/data.
func startSyncd(ctx context.Context, dir string) (*syncEnv, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "syncd.json")
	if err := writeConfig(cfgPath, benchConfig(data, "127.0.0.1:0")); err != nil {
		return nil, err
	}
	d, err := daemon.Start(ctx, []string{"-config", cfgPath}, io.Discard, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("start syncd: %w", err)
	}
	return &syncEnv{d: d, dir: dir, url: "http://" + d.Addr()}, nil
}

// startBenchSyncd starts syncd in this process with data in dir/data (startSyncd) and
// issues a writer token for the tenant "bench". On error nothing is left running.
func startBenchSyncd(ctx context.Context, dir string) (*syncEnv, string, error) {
	env, err := startSyncd(ctx, dir)
	if err != nil {
		return nil, "", err
	}
	tok, err := env.tenant(ctx, "bench", writeRole)
	if err != nil {
		env.close()
		return nil, "", err
	}
	return env, tok, nil
}

// close shuts syncd down.
func (e *syncEnv) close() {
	if e == nil || e.d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = e.d.Shutdown(ctx)
}

// tenant creates a tenant and returns a token of role for it.
func (e *syncEnv) tenant(ctx context.Context, name, role string) (string, error) {
	if _, err := e.d.Registry().Create(ctx, name, tenants.Options{}); err != nil && protocol.CodeOf(err) != protocol.CodeConflict {
		return "", fmt.Errorf("create tenant %s: %w", name, err)
	}
	return e.token(ctx, name, "bench", role)
}

// token issues a tenant token.
func (e *syncEnv) token(ctx context.Context, tenant, subject, role string) (string, error) {
	tok, _, err := e.d.Auth().IssueTenantToken(ctx, tenant, subject, role, 24*time.Hour)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return tok, nil
}

// writeRole is the role the benchmark clients use.
const writeRole = auth.RoleWrite

// newHTTPClient returns a keep-alive client for loopback benchmarks.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}}
}

// put uploads body to url with the SPEC headers (X-Content-SHA256 when sum != "").
func put(ctx context.Context, cl *http.Client, url, token string, body []byte, sum string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytesReader(body))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sum != "" {
		req.Header.Set("X-Content-SHA256", sum)
	}
	req.Header.Set("X-Sync-Client-Id", "syncbench")
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %d %s", hidePath(url), resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// get downloads url into a discarding sink through a 256 KiB buffer and returns the
// number of bytes read.
func get(ctx context.Context, cl *http.Client, url, token string, buf []byte) (int64, error) {
	return send(ctx, cl, http.MethodGet, url, token, buf)
}

// send sends one bodiless method request (bearer token unless empty) and drains the
// answer into buf, returning its length; any status but 200 is an error.
func send(ctx context.Context, cl *http.Client, method, url, token string, buf []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("%s %s: %d %s", method, hidePath(url), resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return io.CopyBuffer(sink{}, resp.Body, buf)
}

// hidePath drops a query string from a URL for messages.
func hidePath(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// sink discards writes without implementing io.ReaderFrom, so io.CopyBuffer uses the
// caller's buffer.
type sink struct{}

func (sink) Write(p []byte) (int, error) { return len(p), nil }

// bytesReader is a rewindable reader over b for request bodies.
func bytesReader(b []byte) io.ReadSeeker { return &byteReader{b: b} }

type byteReader struct {
	b   []byte
	off int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *byteReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		r.off = int(off)
	case io.SeekCurrent:
		r.off += int(off)
	case io.SeekEnd:
		r.off = len(r.b) + int(off)
	}
	return int64(r.off), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fill writes a deterministic, poorly compressible pattern into b, varied by seed.
func fill(b []byte, seed uint64) {
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := 0; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i], b[i+1], b[i+2], b[i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
		b[i+4], b[i+5], b[i+6], b[i+7] = byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(i)
	}
}

// startDurablePeer serves a durableHandler storing in dir (made if missing) on a
// loopback port; stop shuts it down.
func startDurablePeer(dir string) (url string, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	return serveLocal(&durableHandler{dir: dir})
}

// durableHandler is the minimal net/http peer for uploads and downloads: PUT streams
// the body into a temp file while hashing it (SHA-256), checks X-Content-SHA256,
// fsyncs, makes missing parent directories (fsyncing each one's parent), renames
// over the target and fsyncs its directory — the durability syncd promises before
// its 2xx; GET serves the file with http.ServeContent. Paths must be clean (no "..",
// no empty or dot-led segments). Its fsyncs go through sync/fsys.Sync, so they are
// counted, and slowed down in the slow-disk rows, like syncd's.
type durableHandler struct {
	dir string
	seq atomic.Int64
}

func (h *durableHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" || path.Clean(name) != name || strings.HasPrefix(name, ".") || strings.Contains(name, "/.") {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	target := filepath.Join(h.dir, filepath.FromSlash(name))
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		f, err := os.Open(target)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			http.Error(w, "stat", http.StatusInternalServerError)
			return
		}
		http.ServeContent(w, r, "", fi.ModTime(), f)
	case http.MethodPut:
		tmp := filepath.Join(h.dir, fmt.Sprintf(".tmp-%d", h.seq.Add(1)))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			http.Error(w, "create", http.StatusInternalServerError)
			return
		}
		ok := false
		defer func() {
			if !ok {
				f.Close()
				os.Remove(tmp)
			}
		}()
		sum := sha256.New()
		if _, err := io.Copy(io.MultiWriter(f, sum), r.Body); err != nil {
			http.Error(w, "body", http.StatusBadRequest)
			return
		}
		if want := r.Header.Get("X-Content-SHA256"); want != "" && want != hex.EncodeToString(sum.Sum(nil)) {
			http.Error(w, "digest mismatch", http.StatusUnprocessableEntity)
			return
		}
		if err := fsys.Sync(f); err != nil {
			http.Error(w, "fsync", http.StatusInternalServerError)
			return
		}
		if err := f.Close(); err != nil {
			http.Error(w, "close", http.StatusInternalServerError)
			return
		}
		if err := h.mkdirs(filepath.Dir(target)); err != nil {
			http.Error(w, "mkdir", http.StatusInternalServerError)
			return
		}
		if err := os.Rename(tmp, target); err != nil {
			http.Error(w, "rename", http.StatusInternalServerError)
			return
		}
		ok = true
		if err := fsys.SyncDir(filepath.Dir(target)); err != nil {
			http.Error(w, "fsync dir", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

// mkdirs makes dir (under h.dir) and its missing parents durably: each new directory's
// parent is fsynced.
func (h *durableHandler) mkdirs(dir string) error {
	if dir == h.dir {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := h.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	// Made meanwhile by a concurrent PUT (ErrExist): its parent may not be synced yet.
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return fsys.SyncDir(filepath.Dir(dir))
}

// serveLocal serves h on 127.0.0.1 with a kernel-chosen port; stop closes it.
func serveLocal(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	}, nil
}
