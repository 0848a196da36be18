package guard

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/transport/httperr"
)

// guarded serves handler behind Middleware(o) on a real loopback listener wrapped by a
// Limiter (as syncd does); it returns the address and the limiter.
func guarded(t testing.TB, o Options, lo LimiterOptions, routes func(e *echo.Echo)) (string, *Limiter) {
	t.Helper()
	e := echo.New()
	e.HTTPErrorHandler = httperr.Handler(nil)
	e.Use(Middleware(o), Query)
	routes(e)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := NewLimiter(lo)
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ConnContext: ConnContext}
	go srv.Serve(lim.Wrap(ln, nil))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), lim
}

// readAnswer reads one HTTP answer from conn (the status line and headers).
func readAnswer(conn net.Conn, br *bufio.Reader) (*http.Response, error) {
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

// waitClosed reports how long until the server closed conn (EOF or reset), reading and
// dropping whatever comes; it fails the test after limit.
func waitClosed(t *testing.T, conn net.Conn, br *bufio.Reader, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start)
}

// TestHeadersThenNothing: a body whose headers arrive and then nothing is cut after the
// window, on a route that reads its body (every JSON route does).
func TestHeadersThenNothing(t *testing.T) {
	readErr := make(chan error, 1)
	addr, _ := guarded(t, Options{MinRate: 1024, Window: time.Second}, LimiterOptions{}, func(e *echo.Echo) {
		e.POST("/api/mkdir", func(c echo.Context) error {
			_, err := io.ReadAll(c.Request().Body)
			readErr <- err
			return err
		})
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /api/mkdir HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	start := time.Now()
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrSlowBody) {
			t.Fatalf("read error %v, want ErrSlowBody", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("body never cut")
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("cut after %v, before the window", d)
	}
	waitClosed(t, conn, bufio.NewReader(conn), 30*time.Second)
}

// TestTrickleCutEveryRoute: a body trickling under the floor is cut on a JSON route as
// on an upload; a body above the floor for several windows is read whole.
func TestTrickleCutEveryRoute(t *testing.T) {
	addr, _ := guarded(t, Options{MinRate: 1000, Window: time.Second}, LimiterOptions{}, func(e *echo.Echo) {
		h := func(c echo.Context) error {
			n, err := io.Copy(io.Discard, c.Request().Body)
			if err != nil {
				return err
			}
			return c.String(http.StatusOK, strconv.FormatInt(n, 10))
		}
		e.POST("/admin/tenants", h)
		e.PUT("/api/files/*", h)
	})
	for _, tt := range []struct {
		name       string
		head       string
		chunk      int
		total      int
		wantStatus int
	}{
		{"slow admin POST", "POST /admin/tenants", 20, 4000, 400},    // 200 B/s
		{"slow PUT", "PUT /api/files/a.bin", 20, 4000, 400},          // 200 B/s
		{"steady PUT", "PUT /api/files/b.bin", 400, 8000, 200},       // 4000 B/s
		{"steady admin POST", "POST /admin/tenants", 400, 8000, 200}, // 4000 B/s
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, tt.head+" HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(tt.total)+"\r\n\r\n")
			answer := make(chan *http.Response, 1)
			br := bufio.NewReader(conn)
			go func() {
				resp, err := readAnswer(conn, br)
				if err != nil {
					resp = &http.Response{StatusCode: -1, Status: err.Error()}
				}
				answer <- resp
			}()
			for sent := 0; sent < tt.total; sent += tt.chunk {
				if _, err := conn.Write(bytes.Repeat([]byte("x"), tt.chunk)); err != nil {
					break
				}
				select {
				case resp := <-answer:
					answer <- resp
					sent = tt.total
				case <-time.After(100 * time.Millisecond):
				}
			}
			resp := <-answer
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, resp.Status, tt.wantStatus)
			}
			if tt.wantStatus != 200 && !resp.Close { // ReadResponse moves Connection: close here
				t.Fatalf("cut answer without Connection: close: %v", resp.Header)
			}
		})
	}
}

// TestEarlyAnswerCloses: an answer given before the body is read (here a refusal, as a
// missing token gets) closes the connection instead of draining a trickling body. On
// net/http's own, the drain waits on the trickle for as long as it lasts.
func TestEarlyAnswerCloses(t *testing.T) {
	addr, lim := guarded(t, Options{MinRate: 1024, Window: time.Minute}, LimiterOptions{Max: 100, PerIP: 100}, func(e *echo.Echo) {
		e.POST("/api/move", func(c echo.Context) error {
			return echo.NewHTTPError(http.StatusUnauthorized)
		})
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /api/move HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nxx")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // keep trickling; the server must not wait for it
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	br := bufio.NewReader(conn)
	resp, err := readAnswer(conn, br)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 401 || !resp.Close {
		t.Fatalf("answer %d, Connection: close %v", resp.StatusCode, resp.Close)
	}
	if d := waitClosed(t, conn, br, 20*time.Second); d > 10*time.Second {
		t.Fatalf("closed after %v", d)
	}
	deadline := time.Now().Add(20 * time.Second)
	for lim.Open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("limiter still counts %d connections", lim.Open())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBodyReadWholeKeepsAlive: a body read whole leaves the connection reusable, and the
// deadline cleared at its end does not cut a long handler after it.
func TestBodyReadWholeKeepsAlive(t *testing.T) {
	addr, lim := guarded(t, Options{MinRate: 1024, Window: 300 * time.Millisecond}, LimiterOptions{Max: 100, PerIP: 100}, func(e *echo.Echo) {
		e.POST("/api/mkdir", func(c echo.Context) error {
			b, err := io.ReadAll(c.Request().Body)
			if err != nil {
				return err
			}
			time.Sleep(500 * time.Millisecond) // a commit longer than the window
			if err := c.Request().Context().Err(); err != nil {
				return err
			}
			return c.String(http.StatusCreated, string(b))
		})
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := range 3 {
		resp, err := client.Post("http://"+addr+"/api/mkdir", "application/json", strings.NewReader(`{"path":"a"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || resp.Close {
			t.Fatalf("request %d: %d, Connection: close %v", i, resp.StatusCode, resp.Close)
		}
		time.Sleep(400 * time.Millisecond) // idle beyond the window
	}
	if n := lim.Open(); n != 1 {
		t.Fatalf("%d connections for 3 keep-alive requests", n)
	}
}

// TestStalledReaderCut: an answer whose reader stops reading is cut after the stall,
// whether written in one large write, in small writes or through ReadFrom; a slow but
// steady reader is not.
func TestStalledReaderCut(t *testing.T) {
	const size = 64 << 20
	writeErr := make(chan error, 3)
	addr, _ := guarded(t, Options{Stall: 2 * time.Second}, LimiterOptions{}, func(e *echo.Echo) {
		e.GET("/big", func(c echo.Context) error {
			c.Response().WriteHeader(http.StatusOK)
			_, err := c.Response().Write(make([]byte, size))
			writeErr <- err
			return nil
		})
		e.GET("/small", func(c echo.Context) error {
			c.Response().WriteHeader(http.StatusOK)
			buf := make([]byte, 4096)
			var err error
			for i := 0; i < size/len(buf) && err == nil; i++ {
				_, err = c.Response().Write(buf)
			}
			writeErr <- err
			return nil
		})
		e.GET("/copy", func(c echo.Context) error {
			c.Response().WriteHeader(http.StatusOK)
			_, err := io.CopyN(c.Response(), zeros{}, size)
			writeErr <- err
			return nil
		})
	})
	for _, path := range []string{"/big", "/small", "/copy"} {
		t.Run(path, func(t *testing.T) {
			conn := dialSmallBuffer(t, addr)
			defer conn.Close()
			io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			buf := make([]byte, 1024)
			if _, err := io.ReadFull(conn, buf); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			select { // the reader stops here
			case err := <-writeErr:
				if err == nil {
					t.Fatal("write finished to a reader that stopped")
				}
				if d := time.Since(start); d > 15*time.Second {
					t.Fatalf("cut after %v", d)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("stalled answer never cut")
			}
		})
	}
	t.Run("steady reader", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /copy HTTP/1.1\r\nHost: x\r\n\r\n")
		// ~25 MiB/s, far below loopback speed: the writer blocks often, never for long.
		lr := &io.LimitedReader{R: conn, N: 0}
		var got int64
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		for got < size {
			lr.N = 256 << 10
			n, err := io.Copy(io.Discard, lr)
			got += n
			if err != nil || n == 0 {
				t.Fatalf("after %d bytes: %v", got, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := <-writeErr; err != nil {
			t.Fatalf("steady reader cut: %v", err)
		}
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// dialSmallBuffer connects with a small receive buffer, so that a reader that stops
// makes the server's writes block soon.
func dialSmallBuffer(t *testing.T, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	return conn
}
