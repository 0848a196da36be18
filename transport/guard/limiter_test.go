package guard

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// dialFrom connects to addr from the loopback address src (any of 127/8 on Linux) and
// does one request on the connection, so that the server has surely accepted it.
func dialFrom(t *testing.T, src, addr string) (net.Conn, *http.Response) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", addr)
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
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Header.Set("X-Test-Body", string(b))
	return conn, resp
}

func wantServed(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, resp.Header.Get("X-Test-Body"))
	}
}

func wantRefused(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Fatalf("status %d, Retry-After %q, close %v; want 503, 1, close", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
	}
	var b struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(resp.Header.Get("X-Test-Body")), &b); err != nil || b.Error.Code != "unavailable" {
		t.Fatalf("refusal body %q", resp.Header.Get("X-Test-Body"))
	}
}

func healthz(e *echo.Echo) {
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
}

// waitOpen polls until the limiter counts n connections.
func waitOpen(t *testing.T, l *Limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("limiter counts %d connections, want %d", l.Open(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLimiterCaps(t *testing.T) {
	addr, lim := guarded(t, Options{}, LimiterOptions{Max: 4, PerIP: 2}, healthz)
	a1, r := dialFrom(t, "127.0.0.1", addr)
	wantServed(t, r)
	_, r = dialFrom(t, "127.0.0.1", addr)
	wantServed(t, r)
	// Per address: a third from 127.0.0.1 is refused at once.
	_, r = dialFrom(t, "127.0.0.1", addr)
	wantRefused(t, r)
	// Another address is still served, up to the global cap.
	_, r = dialFrom(t, "127.0.0.2", addr)
	wantServed(t, r)
	_, r = dialFrom(t, "127.0.0.3", addr)
	wantServed(t, r)
	_, r = dialFrom(t, "127.0.0.4", addr)
	wantRefused(t, r)
	if lim.Refused() != 2 {
		t.Fatalf("refused %d, want 2", lim.Refused())
	}
	// Closing one frees its place (for its address and in all).
	a1.Close()
	waitOpen(t, lim, 3)
	_, r = dialFrom(t, "127.0.0.1", addr)
	wantServed(t, r)
}

func TestLimiterExemptProxies(t *testing.T) {
	addr, lim := guarded(t, Options{}, LimiterOptions{Max: 3, PerIP: 1,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, healthz)
	for range 3 { // a trusted proxy carries many clients: no per-address cap
		_, r := dialFrom(t, "127.0.0.1", addr)
		wantServed(t, r)
	}
	_, r := dialFrom(t, "127.0.0.1", addr) // the global cap still counts it
	wantRefused(t, r)
	waitOpen(t, lim, 3)
}

func TestLimiterPerIPOnly(t *testing.T) {
	addr, _ := guarded(t, Options{}, LimiterOptions{PerIP: 1}, healthz)
	_, r := dialFrom(t, "127.0.0.5", addr)
	wantServed(t, r)
	_, r = dialFrom(t, "127.0.0.5", addr)
	wantRefused(t, r)
	_, r = dialFrom(t, "127.0.0.6", addr)
	wantServed(t, r)
}

// TestLimiterRefusalReadByHTTPClient: net/http's own client reads the refusal as an
// answer (the request is read first, so the answer is never unsolicited).
func TestLimiterRefusalReadByHTTPClient(t *testing.T) {
	addr, _ := guarded(t, Options{}, LimiterOptions{Max: 1}, healthz)
	_, r := dialFrom(t, "127.0.0.1", addr) // holds the one place
	wantServed(t, r)
	for range 5 {
		client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("over the cap: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("over the cap: %d", resp.StatusCode)
		}
		client.CloseIdleConnections()
	}
}

// TestLimitConnExposesSocket: a connection accepted through the limiter still leads to
// its socket (NetConn, then syscall.Conn), as the hub needs for TCP_NOTSENT_LOWAT and
// SO_LINGER on slow consumers; without it those bounds were silently skipped on every
// connection syncd accepts.
func TestLimitConnExposesSocket(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewLimiter(LimiterOptions{Max: 10, PerIP: 10}).Wrap(raw, nil)
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err == nil {
			defer c.Close()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, ok := c.(interface{ NetConn() net.Conn })
	if !ok {
		t.Fatalf("%T offers no NetConn", c)
	}
	if _, ok := u.NetConn().(syscall.Conn); !ok {
		t.Fatalf("NetConn is %T, not a socket", u.NetConn())
	}
}
