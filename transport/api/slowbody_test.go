package api

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
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

// apiServer assembles the API from real parts (SQLite file, registry, token service,
// auth middleware) with a short body-rate window, on a real loopback listener.
func apiServer(t *testing.T, minRate int64, window time.Duration) (url, token string, reg *tenants.Registry) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err = sqlindex.OpenRegistry(ctx, db, dir, tenants.Limits{MaxFileSize: 1 << 30, MaxEntries: 1000, RetainChanges: 1000, RetainVersions: time.Hour}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{Issuer: "syncd", MaxTTL: 24 * time.Hour, MaxOpsTTL: time.Hour, KeyDir: filepath.Join(dir, "keys"), Leeway: 30 * time.Second}, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = httperr.Handler(logger)
	e.Use(guard.Middleware(guard.Options{MinRate: minRate, Window: window}))
	if err := Register(e, Options{Registry: reg, Auth: svc, MW: authmw.New(svc, authmw.Options{Logger: logger}),
		Logger: logger}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	if _, err := reg.Create(ctx, "acme", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	token, _, err = svc.IssueTenantToken(ctx, "acme", "tester", auth.RoleWrite, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, token, reg
}

// trickle sends a PUT whose body arrives chunk bytes every pause, and returns the
// status line of the answer.
func trickle(t *testing.T, url, token, path string, total, chunk int, pause time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "PUT /api/files/" + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
		"\r\nContent-Length: " + strconv.Itoa(total) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	answer := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		answer <- "HTTP/1.1 " + resp.Status + " " + resp.Header.Get("Connection") + " " + string(b)
	}()
	sent := 0
	for sent < total {
		n := min(chunk, total-sent)
		if _, err := conn.Write(bytes.Repeat([]byte("s"), n)); err != nil {
			break // cut by the server
		}
		sent += n
		select {
		case a := <-answer:
			return a
		case <-time.After(pause):
		}
	}
	select {
	case a := <-answer:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	return ""
}

func TestSlowBodyIsCut(t *testing.T) {
	url, token, reg := apiServer(t, 1024, time.Second)
	// 1024 B/s over 1 s windows; 50 bytes every 100 ms (≈500 B/s) is too slow. The long
	// window keeps the steady case below safe from scheduler stalls on a loaded machine.
	start := time.Now()
	a := trickle(t, url, token, "slow.bin", 100000, 50, 100*time.Millisecond)
	if !strings.HasPrefix(a, "HTTP/1.1 400") || !strings.Contains(a, "too slow") {
		t.Fatalf("slow body answer %q", a)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("cut after %v", d)
	}
	sp, err := reg.Space(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Stat(context.Background(), "slow.bin"); err == nil {
		t.Fatal("cut upload left a file")
	}
	// Steady above the rate for several windows: accepted.
	a = trickle(t, url, token, "steady.bin", 9000, 300, 100*time.Millisecond)
	if !strings.HasPrefix(a, "HTTP/1.1 201") {
		t.Fatalf("steady body answer %q", a)
	}
	// A fast upload right after is not affected by a stale deadline.
	req, _ := http.NewRequest("PUT", url+"/api/files/fast.bin", bytes.NewReader(make([]byte, 2<<20)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("fast upload %d", resp.StatusCode)
	}
}

// TestDeadlineClearedAfterBody: a connection idle for longer than the rate window after
// a body has arrived is not cut (the read deadline is cleared at EOF). The window is a
// second, not less: on a loaded 2-core machine under -race the client goroutine can be
// starved for a few hundred ms mid-body, which a shorter window rightly cuts.
func TestDeadlineClearedAfterBody(t *testing.T) {
	const window = time.Second
	url, token, _ := apiServer(t, 1024, window)
	for i := range 3 {
		req, _ := http.NewRequest("PUT", url+"/api/files/k"+strconv.Itoa(i)+".bin", bytes.NewReader(make([]byte, 1<<20)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("upload %d: %d", i, resp.StatusCode)
		}
		time.Sleep(window + 300*time.Millisecond) // idle keep-alive beyond the window
	}
}
