package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/servertest"
)

// benchWriter is the cheapest http.ResponseWriter: it keeps nothing but the status.
// Its deadlines are those of a real TCP connection, so that transport/guard's
// deadline updates cost what they cost on a served request.
type benchWriter struct {
	h      http.Header
	status int
	conn   net.Conn
}

func (w *benchWriter) SetReadDeadline(t time.Time) error  { return w.conn.SetReadDeadline(t) }
func (w *benchWriter) SetWriteDeadline(t time.Time) error { return w.conn.SetWriteDeadline(t) }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

// loop runs fn b.N times and reports the process's CPU time per run as cpu-ns/op
// (garbage collection included), which other processes' load does not inflate as
// much as ns/op.
func loop(b *testing.B, fn func()) {
	b.ReportAllocs()
	c0 := cpuNow(b)
	for b.Loop() {
		fn()
	}
	b.ReportMetric(float64(cpuNow(b)-c0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkRequestPath runs authenticated requests through syncd's whole handler
// (middleware, authentication with a warm token cache, the handler, the request log
// formatted at info level and discarded, as syncbench runs it), in this process with
// no connection, so that ns/op and allocs/op are the request path's CPU. The PUT
// creates a new 4 KiB file each time (Space.Put included: read its cost from a
// profile, `-cpuprofile`, as the cumulative time of guard.Middleware less
// tenants.(*Space).Put).
func BenchmarkRequestPath(b *testing.B) {
	st := servertest.Open(b, servertest.Options{})
	st.Tenant(b, "bench", tenants.Options{})
	tok := st.Token(b, "bench", "alice", "write", time.Hour)
	// The daemon's logging (cmd/syncd/daemon newLogger) at info level into io.Discard.
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	al := &AccessLog{W: io.Discard, Level: slog.LevelInfo}
	srv, err := New(context.Background(), Deps{Tenants: st.Registry, Auth: st.Auth, Logger: logger, AccessLog: al})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	h := srv.Main()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	body := bytes.Repeat([]byte("x"), 4096)
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	do := func(b *testing.B, method, target string, body []byte, hdr map[string]string, want int) {
		var rd io.Reader = http.NoBody
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+target, rd)
		if err != nil {
			b.Fatal(err)
		}
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("User-Agent", "Go-http-client/1.1")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := &benchWriter{h: http.Header{}, conn: conn}
		h.ServeHTTP(w, req)
		if w.status != want {
			b.Fatalf("%s %s: status %d, want %d", method, target, w.status, want)
		}
	}
	do(b, http.MethodPut, "/api/files/small.bin", body, map[string]string{"X-Content-SHA256": hexSum}, http.StatusCreated)
	do(b, http.MethodPut, "/api/files/d/first.bin", body, map[string]string{"X-Content-SHA256": hexSum}, http.StatusCreated)

	b.Run("GET", func(b *testing.B) {
		loop(b, func() { do(b, http.MethodGet, "/api/files/small.bin", nil, nil, http.StatusOK) })
	})
	b.Run("HEAD", func(b *testing.B) {
		loop(b, func() { do(b, http.MethodHead, "/api/files/small.bin", nil, nil, http.StatusOK) })
	})
	// A refused upload: everything before the body, and an error answer.
	b.Run("PUT-412", func(b *testing.B) {
		hdr := map[string]string{"X-Content-SHA256": hexSum, "If-None-Match": "*", "X-Sync-Client-Id": "bench", "Content-Type": "application/octet-stream"}
		loop(b, func() { do(b, http.MethodPut, "/api/files/small.bin", body, hdr, http.StatusPreconditionFailed) })
	})
	var n atomic.Int64
	b.Run("PUT", func(b *testing.B) {
		hdr := map[string]string{"X-Content-SHA256": hexSum, "X-Sync-Client-Id": "bench", "Content-Type": "application/octet-stream"}
		loop(b, func() {
			do(b, http.MethodPut, "/api/files/d/f"+strconv.FormatInt(n.Add(1), 10), body, hdr, http.StatusCreated)
		})
	})
}
