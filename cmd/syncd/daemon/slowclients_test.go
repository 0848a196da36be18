package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countFDs returns the number of open file descriptors of this process, and how many
// of them are sockets.
func countFDs(t *testing.T) (all, sockets int) {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, e := range es {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			sockets++
		}
	}
	return len(es), sockets
}

// TestTricklingConnections is issue 11's slow-body attack against the real server:
// thousands of loopback connections send headers and then trickle their bodies (or
// nothing) at about 1 byte a second, on every kind of body-reading route: a request
// answered before its body is read (no token), an upload, a JSON route, an admin POST.
// With body_window 2 s each is closed within the window (plus scheduling slack), the
// process's file descriptors return to their baseline, and a normal client is served
// all along. Before the fix, every one of them was held for as long as it trickled.
func TestTricklingConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/self/fd")
	}
	const window = 2 * time.Second
	n := 3000
	// Each connection costs two descriptors here (client and server end), plus a temp
	// file per cut upload while it lasts.
	if limit := raiseFDLimit(t, uint64(3*n+1000)); limit < uint64(3*n+1000) {
		n = max(100, (int(limit)-1000)/3)
		t.Logf("open-file limit %d: scaled down to %d connections", limit, n)
	}
	d := startWithConfig(t, map[string]any{
		"log": map[string]any{"level": "error"},
		"limits": map[string]any{
			"min_free_disk":          "1MiB",
			"body_window":            window.String(),
			"body_min_rate":          "1KiB",
			"max_connections":        n + 1000,
			"max_connections_per_ip": n + 1000,
		},
	})
	ctx := context.Background()
	if _, err := d.Registry().Create(ctx, "acme", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	tok, _, err := d.Auth().IssueTenantToken(ctx, "acme", "u", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ops, _, err := d.Auth().IssueOpsToken(ctx, "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	addr := d.Addr()
	base := "http://" + addr
	// Verified tokens are cached: verify each once before the attack, so that the test
	// measures connections, not thousands of first verifications of one token at once
	// (each a store query).
	for _, tk := range []string{tok, ops} {
		path := "/api/usage"
		if tk == ops {
			path = "/admin/keys"
		}
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tk)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	http.DefaultClient.CloseIdleConnections()

	// A normal client, served throughout.
	normal := &http.Client{Timeout: 20 * time.Second}
	stopNormal := make(chan struct{})
	var normalErrs []string
	var normalOK atomic.Int64
	var normalWG sync.WaitGroup
	normalWG.Add(1)
	go func() {
		defer normalWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stopNormal:
				return
			case <-time.After(100 * time.Millisecond):
			}
			// An authenticated read; writes wait on the store, which the DB-touching
			// kinds below load as any burst of requests would (a write is checked
			// after the attack).
			req, _ := http.NewRequest("GET", base+"/api/usage?i="+strconv.Itoa(i), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			start := time.Now()
			resp, err := normal.Do(req)
			if err != nil {
				normalErrs = append(normalErrs, err.Error())
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				normalErrs = append(normalErrs, fmt.Sprintf("status %d after %v", resp.StatusCode, time.Since(start)))
				continue
			}
			normalOK.Add(1)
		}
	}()

	baseline, baseSockets := countFDs(t)
	// Kinds of trickling request. Uploads and admin POSTs each cost a SQLite query or
	// write before the body is cut (checkTarget, the audit row); they are limited to
	// 25 each so that the test measures the connections, not a stampede on the
	// store's connection pool (see docs/SECURITY.md).
	heads := []string{
		"POST /api/mkdir HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{", // no token: answered before the body
		"POST /api/mkdir HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 50000\r\n\r\n",
		"PUT /api/files/t/%d.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 100000\r\n\r\nx",
		"POST /admin/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ops + "\r\nContent-Length: 50000\r\n\r\n{",
		"PUT /api/files/u/%d.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", // no token
		"POST /api/move HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 50000\r\n\r\n{\"from\":",
		"POST /api/restore HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 50000\r\n\r\n",
	}
	kindOf := func(i int) int {
		switch {
		case i < 25:
			return 2 // upload
		case i < 50:
			return 3 // admin POST
		}
		return []int{0, 1, 4, 5, 6}[i%5]
	}
	type trickler struct {
		conn   net.Conn
		sent   time.Time
		closed atomic.Bool
		took   time.Duration
	}
	ts := make([]*trickler, n)
	var readers sync.WaitGroup
	t.Cleanup(func() {
		for _, tr := range ts {
			if tr != nil {
				tr.conn.Close()
			}
		}
	})
	dialer := net.Dialer{Timeout: 20 * time.Second}
	var dialers sync.WaitGroup
	dialErrs := make(chan error, n)
	firstSent := time.Now()
	for w := range 8 { // dial from 8 goroutines
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for i := w; i < n; i += 8 {
				conn, err := dialer.Dial("tcp", addr)
				if err != nil {
					dialErrs <- fmt.Errorf("dial %d: %w", i, err)
					return
				}
				tr := &trickler{conn: conn, sent: time.Now()}
				ts[i] = tr
				head := heads[kindOf(i)]
				if strings.Contains(head, "%d") {
					head = fmt.Sprintf(head, i)
				}
				if _, err := io.WriteString(conn, head); err != nil {
					dialErrs <- fmt.Errorf("write %d: %w", i, err)
					return
				}
				readers.Add(1)
				go func() {
					defer readers.Done()
					_ = conn.SetReadDeadline(time.Now().Add(90 * time.Second))
					_, _ = io.Copy(io.Discard, bufio.NewReader(conn)) // until the server closes
					tr.took = time.Since(tr.sent)
					tr.closed.Store(true)
					conn.Close()
				}()
			}
		}()
	}
	dialers.Wait()
	close(dialErrs)
	for err := range dialErrs {
		t.Fatal(err)
	}
	t.Logf("%d trickling connections open in %v", n, time.Since(firstSent))

	// Trickle one byte a second on every connection still open (far under 1 KiB/s).
	stopTrickle := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopTrickle:
				return
			case <-time.After(time.Second):
			}
			for _, tr := range ts {
				if !tr.closed.Load() {
					_ = tr.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					_, _ = tr.conn.Write([]byte("x"))
				}
			}
		}
	}()
	defer close(stopTrickle)

	// The figure for the issue: what the server still holds just after the window.
	time.Sleep(window + time.Second)
	heldAfterWindow := d.OpenConnections()
	if os.Getenv("DUMP") != "" {
		time.Sleep(3 * time.Second)
		f, _ := os.Create("/tmp/gdump.txt")
		pprof.Lookup("goroutine").WriteTo(f, 1)
		f.Close()
	}

	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		open := 0
		for _, tr := range ts {
			if !tr.closed.Load() {
				open++
			}
		}
		t.Fatalf("%d of %d trickling connections still open 60 s after the last was opened", open, n)
	}
	took := make([]time.Duration, 0, n)
	worstByKind := make([]time.Duration, len(heads))
	for i, tr := range ts {
		took = append(took, tr.took)
		worstByKind[kindOf(i)] = max(worstByKind[kindOf(i)], tr.took)
	}
	t.Logf("slowest close by kind (no token, mkdir, upload, admin, no-token upload, move, restore): %v", worstByKind)
	slices.Sort(took)
	p50, p99, worst := took[len(took)/2], took[len(took)*99/100], took[len(took)-1]
	t.Logf("connections closed after: p50 %v, p99 %v, max %v (body_window %v); held by the server %v after the window: %d of %d",
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond), window, window+time.Second, heldAfterWindow, n)
	// Each is cut once a window passes without 1 KiB; the slack covers a loaded CI
	// machine (thousands of goroutines under -race on two cores).
	if worst > window+45*time.Second {
		t.Errorf("slowest trickling connection closed after %v (window %v)", worst, window)
	}

	close(stopNormal)
	normalWG.Wait()
	if len(normalErrs) > 0 || normalOK.Load() == 0 {
		t.Errorf("normal client: %d served, failures: %v", normalOK.Load(), normalErrs)
	}
	req, _ := http.NewRequest("PUT", base+"/api/files/normal/after.txt", strings.NewReader("after"))
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := normal.Do(req); err != nil || resp.StatusCode != 201 {
		t.Errorf("upload after the attack: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	normal.CloseIdleConnections()

	// Socket descriptors and the server's connection count return to their baseline.
	// (SQLite keeps the descriptors of pooled connections closed while another one
	// holds a lock on the same file, for reuse: the total is logged, not bounded.)
	deadline := time.Now().Add(30 * time.Second)
	for {
		fds, sockets := countFDs(t)
		open := d.OpenConnections()
		if sockets <= baseSockets+2 && open == 0 {
			t.Logf("socket descriptors: %d before the attack, %d after; all descriptors %d before, %d after", baseSockets, sockets, baseline, fds)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket descriptors %d (baseline %d), server connections %d, 30 s after the attack; some: %v", sockets, baseSockets, open, fdSample(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fdSample names up to n of this process's open descriptors (for failure messages).
func fdSample(n int) []string {
	es, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range es {
		if len(out) == n {
			break
		}
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, l)
	}
	return out
}

// TestStalledDownloadCut: a client that stops reading a large download is cut after
// limits.stream_stall without progress (the write deadline moves only as bytes go
// out), and the connection's descriptor is released.
func TestStalledDownloadCut(t *testing.T) {
	const stall = time.Second
	d := startWithConfig(t, map[string]any{
		"log":    map[string]any{"level": "error"},
		"limits": map[string]any{"min_free_disk": "1MiB", "stream_stall": stall.String()},
	})
	ctx := context.Background()
	if _, err := d.Registry().Create(ctx, "acme", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	tok, _, err := d.Auth().IssueTenantToken(ctx, "acme", "u", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20 // well over the socket buffers
	client := &http.Client{Timeout: 60 * time.Second}
	req, _ := http.NewRequest("PUT", "http://"+d.Addr()+"/api/files/big.bin", strings.NewReader(strings.Repeat("z", size)))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	if resp.StatusCode != 201 {
		t.Fatalf("upload %d", resp.StatusCode)
	}
	waitConns(t, d, 0)

	conn, err := net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET /api/files/big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	head := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(conn, head); err != nil || !strings.HasPrefix(string(head), "HTTP/1.1 200") {
		t.Fatalf("download start: %v %q", err, head[:40])
	}
	// The reader stops here. The server must give up on its own.
	start := time.Now()
	waitConns(t, d, 0)
	took := time.Since(start)
	t.Logf("stalled download cut after %v (stream_stall %v)", took.Round(time.Millisecond), stall)
	if took < stall/2 {
		t.Fatalf("cut after %v, before the stall (%v) could pass", took, stall)
	}
}

// waitConns polls until the daemon's listeners hold n connections.
func waitConns(t *testing.T, d *Daemon, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d.OpenConnections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", d.OpenConnections(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionCaps: limits.max_connections_per_ip and limits.max_connections are
// wired to the listener: the excess gets 503 with Retry-After: 1 and Connection:
// close at once, and the caps free up when connections close.
func TestConnectionCaps(t *testing.T) {
	d := startWithConfig(t, map[string]any{
		"log":    map[string]any{"level": "error"},
		"limits": map[string]any{"min_free_disk": "1MiB", "max_connections": 4, "max_connections_per_ip": 2},
	})
	open := func(src string) (net.Conn, int, http.Header) {
		t.Helper()
		dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		conn, err := dl.Dial("tcp", d.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("from %s: %v", src, err)
		}
		resp.Body.Close()
		if resp.Close {
			resp.Header.Set("Connection", "close") // ReadResponse moves it to resp.Close
		}
		return conn, resp.StatusCode, resp.Header
	}
	refused := func(status int, h http.Header) bool {
		return status == 503 && h.Get("Retry-After") == "1" && h.Get("Connection") == "close"
	}
	first, st, _ := open("127.0.0.1")
	if st != 200 {
		t.Fatalf("first: %d", st)
	}
	if _, st, _ := open("127.0.0.1"); st != 200 {
		t.Fatalf("second: %d", st)
	}
	if _, st, h := open("127.0.0.1"); !refused(st, h) {
		t.Fatalf("third from one address: %d %v", st, h)
	}
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		if _, st, _ := open(src); st != 200 {
			t.Fatalf("from %s: %d", src, st)
		}
	}
	if _, st, h := open("127.0.0.4"); !refused(st, h) {
		t.Fatalf("fifth in all: %d %v", st, h)
	}
	first.Close()
	waitConns(t, d, 3)
	if _, st, _ := open("127.0.0.4"); st != 200 {
		t.Fatalf("after a close: %d", st)
	}
}
