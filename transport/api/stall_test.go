package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlindex"
	"github.com/syncspace/syncspace/tenants/sqlite"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/httperr"
)

// streamEnv is the API from real parts (SQLite file, registry with its background
// loop, token service, auth middleware) on a real loopback listener that counts the
// connections it has closed.
type streamEnv struct {
	url    string
	dir    string
	reg    *tenants.Registry
	svc    *auth.Service
	closed atomic.Int64 // server-side connections closed
}

// newStreamEnv serves the API as syncd does for streams: behind transport/guard's
// middleware, whose write deadline is limits.stream_stall (stall; 0: no guard).
func newStreamEnv(t *testing.T, limits tenants.Limits, stall time.Duration) *streamEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := sqlindex.OpenRegistry(ctx, db, dir, limits, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	var wg sync.WaitGroup
	wg.Go(func() { reg.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{Issuer: "syncd", MaxTTL: 24 * time.Hour, MaxOpsTTL: time.Hour, KeyDir: filepath.Join(dir, "keys"), Leeway: 30 * time.Second}, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = httperr.Handler(logger)
	if stall > 0 {
		e.Use(guard.Middleware(guard.Options{Stall: stall}))
	}
	if err := Register(e, Options{Registry: reg, Auth: svc, MW: authmw.New(svc, authmw.Options{Logger: logger}), Logger: logger}); err != nil {
		t.Fatal(err)
	}
	env := &streamEnv{dir: dir, reg: reg, svc: svc}
	srv := httptest.NewUnstartedServer(e)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			env.closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	env.url = srv.URL
	return env
}

func (e *streamEnv) token(t *testing.T, tenant string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := e.reg.Create(ctx, tenant, tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.svc.IssueTenantToken(ctx, tenant, "tester", auth.RoleWrite, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// stalledGet sends GET target on a raw connection, reads the answer's first few bytes
// and then stops reading. The connection stays open until the test ends.
func stalledGet(t *testing.T, url, target, token string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", target, token); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatalf("first bytes: %v", err)
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200")) {
		t.Fatalf("answer %q", buf)
	}
	return conn
}

// bigTenant creates tenant name holding files 2 MiB files under d/ and returns a
// token for it: an archive far larger than the socket buffers, so that the server
// blocks on write when the client stops reading.
func (e *streamEnv) bigTenant(t *testing.T, name string, files int) (token string, size int64) {
	t.Helper()
	ctx := context.Background()
	token = e.token(t, name)
	sp, err := e.reg.Space(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	for i := range files {
		if _, _, err := sp.Put(ctx, fmt.Sprintf("d/f%02d.bin", i), bytes.NewReader(chunk), tenants.PutOptions{Size: int64(len(chunk))}); err != nil {
			t.Fatal(err)
		}
	}
	return token, int64(files * len(chunk))
}

// TestStalledArchiveDoesNotPinWAL: a reader that stops reading a large archive must
// not keep a read transaction open, which pins syncd.db-wal for every tenant. The
// stall window is long here, so that the stream stays open throughout: another
// tenant uploads 3,000 small files meanwhile and the WAL stays under walBound
// (before paged listings it grew to 41.5 MiB).
func TestStalledArchiveDoesNotPinWAL(t *testing.T) {
	const (
		walBound = 16 << 20
		uploads  = 3000
	)
	e := newStreamEnv(t, tenants.Limits{MaxFileSize: 1 << 30}, time.Hour)
	bigTok, _ := e.bigTenant(t, "big", 24)
	busyTok := e.token(t, "busy")
	wal := filepath.Join(e.dir, "syncd.db-wal")
	walSize := func() int64 {
		fi, err := os.Stat(wal)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	closedBefore := e.closed.Load()
	stalledGet(t, e.url, "/api/archive", bigTok)
	stalledAt := time.Now()

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	var (
		maxWAL atomic.Int64
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Value
	)
	sample := func() {
		for n := walSize(); n > maxWAL.Load(); {
			if maxWAL.CompareAndSwap(maxWAL.Load(), n) {
				return
			}
		}
	}
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > uploads {
					return
				}
				body := fmt.Sprintf("small file %d", i)
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/files/u/%d.txt", e.url, i), strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+busyTok)
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					failed.Store(fmt.Sprintf("upload %d: %d", i, resp.StatusCode))
					return
				}
				if i%50 == 0 {
					sample()
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	sample()
	t.Logf("WAL with a stalled archive reader and %d uploads by another tenant: max %d bytes (%.1f MiB); uploads took %v",
		uploads, maxWAL.Load(), float64(maxWAL.Load())/(1<<20), time.Since(stalledAt))
	if maxWAL.Load() > walBound {
		t.Errorf("WAL grew to %d bytes, bound %d", maxWAL.Load(), walBound)
	}
	if e.closed.Load() != closedBefore {
		t.Error("the stalled stream was cut before its stall window: the WAL figure does not show the stall")
	}
}

// TestStalledStreamIsCut: an archive whose reader stops reading is aborted once
// limits.stream_stall passes without progress (2 s here): the server closes the
// connection, and reading on finds a cut stream, never the whole archive.
func TestStalledStreamIsCut(t *testing.T) {
	e := newStreamEnv(t, tenants.Limits{MaxFileSize: 1 << 30}, 2*time.Second)
	tok, size := e.bigTenant(t, "big", 24)
	closedBefore := e.closed.Load()
	conn := stalledGet(t, e.url, "/api/archive", tok)
	stalledAt := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for e.closed.Load() == closedBefore && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if e.closed.Load() == closedBefore {
		t.Fatalf("stalled archive stream still open %v after it stalled", time.Since(stalledAt))
	}
	t.Logf("stalled stream cut %v after the reader stopped (stall window 2s)", time.Since(stalledAt))
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, bufio.NewReader(conn))
	if err == nil && n >= size {
		t.Fatalf("stalled stream delivered in full (%d bytes)", n)
	}
}

// TestSlowStreamIsNotCut: a reader that keeps reading, however slowly, gets the whole
// archive although each of its reads comes later than the server could write.
func TestSlowStreamIsNotCut(t *testing.T) {
	e := newStreamEnv(t, tenants.Limits{MaxFileSize: 1 << 30}, 3*time.Second)
	tok, size := e.bigTenant(t, "big", 6)
	req, _ := http.NewRequest("GET", e.url+"/api/archive", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("archive %d", resp.StatusCode)
	}
	// 256 KiB every 100 ms: the server waits on the client all along, never 3 s.
	var got int64
	buf := make([]byte, 256<<10)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got < size {
		t.Fatalf("archive cut at %d bytes of more than %d", got, size)
	}
	// The connection is reused afterwards, past the stall window: the stream's write
	// deadline did not outlive the answer (net/http clears it). A PUT, which the client
	// does not retry on a fresh connection when a reused one fails.
	time.Sleep(3500 * time.Millisecond)
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused }}
	req, _ = http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "PUT", e.url+"/api/files/after.txt", strings.NewReader("after"))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request on the kept-alive connection: %v", err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 201 || !reused {
		t.Fatalf("upload after the stream: %d, connection reused %v", resp2.StatusCode, reused)
	}
}
