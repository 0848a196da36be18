package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

func tenantsOptions() tenants.Options { return tenants.Options{} }

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEmbeddedDefaultBootstrap(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	getenv := envFunc(map[string]string{"SYNCD_LISTEN": "127.0.0.1:0", "SYNCD_LOG_LEVEL": "warn"})
	var out, logs syncBuffer
	d, err := start(context.Background(), nil, &out, &logs, getenv)
	if err != nil {
		t.Fatal(err)
	}
	tokenPath := filepath.Join("syncd-data", "default.token")
	wantCmd := "realtime-sync-client --server http://" + d.Addr() + " --local-path ./my-folder --token-file syncd-data/default.token --realtime"
	if !strings.Contains(out.String(), wantCmd) || !strings.Contains(out.String(), tokenPath) {
		t.Fatalf("stdout lacks the path or client command line:\n%s", out.String())
	}
	tok, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	if token == "" || strings.Contains(out.String(), token) || strings.Contains(logs.String(), token) {
		t.Fatalf("token empty or printed")
	}
	for p, mode := range map[string]os.FileMode{tokenPath: 0o600, "syncd-data": 0o700 | os.ModeDir, "syncd-data/syncd.db": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s mode %v, want %v", p, fi.Mode(), mode)
		}
	}
	// The token works: role write on tenant default.
	req, _ := http.NewRequest("PUT", "http://"+d.Addr()+"/api/files/hello.txt", strings.NewReader("hi"))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("PUT with bootstrap token: %d", resp.StatusCode)
	}
	p, err := d.Auth().Verify(context.Background(), token, "syncspace")
	if err != nil || p.Tenant != "default" || p.Role != "write" || time.Until(p.ExpiresAt) < 29*24*time.Hour || time.Until(p.ExpiresAt) > 30*24*time.Hour+time.Minute {
		t.Fatalf("token principal %+v, %v", p, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Second start: no new tenant or token; the hint names the same file.
	out = syncBuffer{}
	d, err = start(context.Background(), nil, &out, &logs, getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	tok2, _ := os.ReadFile(tokenPath)
	if !bytes.Equal(tok, tok2) {
		t.Fatalf("token file rewritten on second start")
	}
	if !strings.Contains(out.String(), "--token-file syncd-data/default.token") {
		t.Fatalf("second start hint: %q", out.String())
	}
}

func TestConfigFileHasNoBootstrap(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	data := filepath.Join(dir, "data")
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": data, "admin_listen": "127.0.0.2:0"})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	d, err := start(context.Background(), []string{"-config", cfg}, &out, io.Discard, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	if out.String() != "" {
		t.Errorf("stdout %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(data, "default.token")); !os.IsNotExist(err) {
		t.Errorf("token file created with a config file")
	}
	ts, err := d.Registry().List(context.Background())
	if err != nil || len(ts) != 0 {
		t.Errorf("tenants %v %v", ts, err)
	}
	if d.AdminAddr() == "" || d.AdminAddr() == d.Addr() {
		t.Errorf("admin addr %q", d.AdminAddr())
	}
	// Keys exist even without bootstrap.
	if keys, err := d.Auth().ListKeys(context.Background()); err != nil || len(keys) == 0 {
		t.Errorf("keys %v %v", keys, err)
	}
	resp, err := http.Get("http://" + d.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
}

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"listen":"127.0.0.1:0","lisen":"x"}`), 0o600)
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string
		stderr  string
		oneLine bool
	}{
		{name: "help", args: []string{"-h"}, code: 0, stdout: "usage: syncd"},
		{name: "help long", args: []string{"--help"}, code: 0, stdout: "-config"},
		{name: "unknown flag", args: []string{"-bogus"}, code: 2, stderr: "bogus"},
		{name: "extra argument", args: []string{"serve"}, code: 2, stderr: "serve"},
		{name: "missing config", args: []string{"-config", filepath.Join(dir, "nope.json")}, code: 1, stderr: "config", oneLine: true},
		{name: "unknown key", args: []string{"-config", bad}, code: 1, stderr: "lisen", oneLine: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb syncBuffer
			code := Run(context.Background(), tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
			}
			if tt.oneLine && strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
				t.Fatalf("stderr not one line: %q", errb.String())
			}
		})
	}
}

func TestRunStopsOnContext(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, "data")})
	os.WriteFile(cfg, b, 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var errb syncBuffer
	go func() { done <- Run(ctx, []string{"-config", cfg}, io.Discard, &errb) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "syncd listening") {
		if time.Now().After(deadline) {
			t.Fatalf("not listening: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
}

func startWithConfig(t *testing.T, cfg map[string]any) *Daemon {
	t.Helper()
	dir := t.TempDir()
	cfg["data_dir"] = filepath.Join(dir, "data")
	if _, ok := cfg["listen"]; !ok {
		cfg["listen"] = "127.0.0.1:0"
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "c.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := start(context.Background(), []string{"-config", path}, io.Discard, io.Discard, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	return d
}

func status(t *testing.T, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminMounting: the admin API and /metrics are on the main listener only when it
// is loopback and no admin_listen is set; otherwise only on admin_listen.
func TestAdminMounting(t *testing.T) {
	ctx := context.Background()
	d := startWithConfig(t, map[string]any{})
	ops, _, err := d.Auth().IssueOpsToken(ctx, "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	main := "http://" + d.Addr()
	if s := status(t, "GET", main+"/admin/tenants", ""); s != 401 {
		t.Fatalf("admin without token: %d", s)
	}
	if s := status(t, "GET", main+"/admin/tenants", ops); s != 200 {
		t.Fatalf("admin with ops token: %d", s)
	}
	if s := status(t, "GET", main+"/metrics", ops); s != 200 {
		t.Fatalf("metrics with ops token: %d", s)
	}
	if _, err := d.Registry().Create(ctx, "acme", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	tenantTok, _, err := d.Auth().IssueTenantToken(ctx, "acme", "a", "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if s := status(t, "GET", main+"/admin/tenants", tenantTok); s != 401 && s != 403 {
		t.Fatalf("admin with tenant token: %d", s)
	}
	if s := status(t, "GET", main+"/api/list", ops); s != 401 && s != 403 {
		t.Fatalf("api with ops token: %d", s)
	}

	d2 := startWithConfig(t, map[string]any{"admin_listen": "127.0.0.2:0"})
	ops2, _, err := d2.Auth().IssueOpsToken(ctx, "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if s := status(t, "GET", "http://"+d2.Addr()+"/admin/tenants", ops2); s != 404 {
		t.Fatalf("admin on main with admin_listen set: %d", s)
	}
	if s := status(t, "GET", "http://"+d2.AdminAddr()+"/admin/tenants", ops2); s != 200 {
		t.Fatalf("admin on admin_listen: %d", s)
	}
	if s := status(t, "GET", "http://"+d2.AdminAddr()+"/api/list", ops2); s != 404 {
		t.Fatalf("api on admin_listen: %d", s)
	}
}

// TestShutdownClosesWebSockets: Shutdown closes live WebSockets with 1001.
func TestShutdownClosesWebSockets(t *testing.T) {
	ctx := context.Background()
	d := startWithConfig(t, map[string]any{})
	if _, err := d.Registry().Create(ctx, "acme", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	tok, _, err := d.Auth().IssueTenantToken(ctx, "acme", "a", "read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ws := subscribed(t, d, tok, "c1", 0)
	done := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done <- d.Shutdown(sctx)
	}()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("close: %v", err)
		}
		break
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestWarnsWhenTokenFileLostMode0600 (issue 11 item 9): syncd warns (slog WARN, naming
// the file, never the token) at start when the token file it wrote has become
// readable by group or others, and is silent while it is 0600 (or stricter).
func TestWarnsWhenTokenFileLostMode0600(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	getenv := envFunc(map[string]string{"SYNCD_LISTEN": "127.0.0.1:0", "SYNCD_LOG_LEVEL": "warn"})
	const warning = "token file has lost mode 0600"
	tokenPath := filepath.Join("syncd-data", "default.token")
	startOnce := func(t *testing.T) string {
		t.Helper()
		var out, logs syncBuffer
		d, err := start(context.Background(), nil, &out, &logs, getenv)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	if logs := startOnce(t); strings.Contains(logs, warning) {
		t.Fatalf("warning on the first start:\n%s", logs)
	}
	tok, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode os.FileMode
		warn bool
	}{
		{0o644, true},
		{0o640, true},
		{0o604, true},
		{0o400, false},
		{0o600, false},
	} {
		if err := os.Chmod(tokenPath, c.mode); err != nil {
			t.Fatal(err)
		}
		logs := startOnce(t)
		got := strings.Contains(logs, warning)
		if got != c.warn {
			t.Fatalf("mode %04o: warned %v, want %v:\n%s", c.mode, got, c.warn, logs)
		}
		if got && (!strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "default.token") ||
			!strings.Contains(logs, fmt.Sprintf("%04o", c.mode))) {
			t.Fatalf("mode %04o: warning lacks level, file or mode:\n%s", c.mode, logs)
		}
		if strings.Contains(logs, strings.TrimSpace(string(tok))) {
			t.Fatal("token in the logs")
		}
	}
}

// TestClusterNeverFallsBack: a config with a cluster section whose parts cannot be
// opened (here: no PostgreSQL at that address) makes syncd exit 1 with one line
// about cluster mode, and it never runs as a single node on the data dir instead.
func TestClusterNeverFallsBack(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	data := filepath.Join(dir, "data")
	kek := filepath.Join(dir, "kek")
	os.WriteFile(kek, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o600)
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": data,
		"auth":    map[string]any{"kek_file": kek},
		"cluster": map[string]any{"postgres": "postgres://syncd@127.0.0.1:1/none?connect_timeout=2", "blobs": "dir:" + filepath.Join(dir, "blobs")}})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	if code := Run(context.Background(), []string{"-config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, errb.String())
	}
	msg := strings.TrimSpace(errb.String())
	if !strings.Contains(msg, "cluster mode") || strings.Contains(msg, "\n") {
		t.Fatalf("stderr %q: want one line about cluster mode", msg)
	}
	if _, err := os.Stat(filepath.Join(data, "syncd.db")); !os.IsNotExist(err) {
		t.Fatalf("a single-node store was created (%v)", err)
	}
}

// TestClusterModeStarts: with a cluster section whose parts are all there (PostgreSQL
// from .ci/services, the LISTEN/NOTIFY bus, dir: blobs), syncd starts in cluster mode:
// ready, tenants in PostgreSQL (no single-node store in the data dir).
func TestClusterModeStarts(t *testing.T) {
	url := pgtest.Postgres(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	data := filepath.Join(dir, "data")
	kek := filepath.Join(dir, "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": data,
		"auth":    map[string]any{"kek_file": kek},
		"cluster": map[string]any{"postgres": url, "blobs": "dir:" + filepath.Join(dir, "blobs"), "node_id": "a"}})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := start(context.Background(), []string{"-config", cfg}, io.Discard, io.Discard, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	if _, err := d.Registry().Create(context.Background(), "team", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + d.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(data, "syncd.db")); !os.IsNotExist(err) {
		t.Fatalf("a single-node store in the data dir (%v)", err)
	}
}

// subscribed opens a WebSocket to d with token, retrying the dial for up to within
// (a tenant or key made on another node reaches d within a second; 0: one try),
// sends Subscribe as clientID and checks the Ack. The socket closes when t ends.
func subscribed(t *testing.T, d *Daemon, token, clientID string, within time.Duration) *websocket.Conn {
	t.Helper()
	var ws *websocket.Conn
	var err error
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		ws, _, err = websocket.DefaultDialer.Dial("ws://"+d.Addr()+"/ws", http.Header{"Authorization": {"Bearer " + token}})
		if err == nil || !time.Now().Before(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": clientID}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if err := ws.ReadJSON(&ack); err != nil || ack["type"] != "Ack" {
		t.Fatalf("ack %v %v", ack, err)
	}
	return ws
}
