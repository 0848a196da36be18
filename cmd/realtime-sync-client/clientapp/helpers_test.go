package clientapp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
)

// syncBuf is a goroutine-safe log buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is syncd (cmd/syncd/syncdtest) with tenant t1 and Token, a write token of
// subject alice.
type server struct {
	*syncdtest.Server
	Token string
}

func withTenant(t *testing.T, s *syncdtest.Server) *server {
	t.Helper()
	s.Tenant(t, "t1", tenants.Options{})
	return &server{Server: s, Token: s.Token(t, "t1", "alice", "write")}
}

func startServer(t *testing.T) *server {
	t.Helper()
	return withTenant(t, syncdtest.Start(t, syncdtest.Options{}))
}

// client is one realtime-sync-client running in-process.
type client struct {
	t      *testing.T
	name   string
	dir    string
	logs   *syncBuf
	cancel context.CancelFunc
	done   chan int
	code   int
}

func writeToken(t *testing.T, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startClient runs the client on dir until stopped (or the test ends).
func startClient(t *testing.T, name, server, tokenFile, dir string, extra ...string) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{t: t, name: name, dir: dir, logs: &syncBuf{}, cancel: cancel, done: make(chan int, 1)}
	args := append([]string{"--server", server, "--local-path", dir, "--token-file", tokenFile, "--log-level", "debug"}, extra...)
	go func() { c.done <- Run(ctx, args, c.logs, c.logs) }()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("client %s logs:\n%s", name, c.logs.String())
		}
	})
	return c
}

// stop cancels the client and waits for its exit code.
func (c *client) stop() int {
	if c.cancel == nil {
		return c.code
	}
	c.cancel()
	c.cancel = nil
	select {
	case c.code = <-c.done:
	case <-time.After(30 * time.Second):
		c.t.Errorf("client %s did not stop", c.name)
	}
	return c.code
}

// exited returns the exit code if the client stopped by itself within d.
func (c *client) exited(d time.Duration) (int, bool) {
	select {
	case code := <-c.done:
		c.code, c.cancel = code, nil
		return code, true
	case <-time.After(d):
		return 0, false
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func fileIs(path, content string) func() bool {
	return func() bool {
		b, err := os.ReadFile(path)
		return err == nil && string(b) == content
	}
}

func gone(path string) func() bool {
	return func() bool {
		_, err := os.Lstat(path)
		return os.IsNotExist(err)
	}
}

func isDir(path string) func() bool {
	return func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.IsDir()
	}
}

// tree lists the synced content of dir: relative path → content ("/" for dirs),
// without .syncspace.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, ".syncspace") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			out[rel] = "/"
			return nil
		}
		b, _ := os.ReadFile(p)
		out[rel] = string(b)
		return nil
	})
	return out
}

func sameTree(t *testing.T, a, b string) func() bool {
	return func() bool {
		ta, tb := tree(t, a), tree(t, b)
		if len(ta) != len(tb) {
			return false
		}
		for k, v := range ta {
			if tb[k] != v {
				return false
			}
		}
		return true
	}
}

// conflictCopies returns the names in dir that are conflict copies of stem.
func conflictCopies(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for p := range tree(t, dir) {
		if strings.Contains(p, ".sync-conflict-") {
			out = append(out, p)
		}
	}
	return out
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// startServerAt starts a fresh syncd (new data dir) on addr, retrying while the port
// is being released.
func startServerAt(t *testing.T, addr string) *server {
	t.Helper()
	var s *syncdtest.Server
	var err error
	for i := 0; i < 50; i++ {
		s, err = syncdtest.Launch(context.Background(), syncdtest.Options{Listen: addr, DataDir: filepath.Join(t.TempDir(), "data")})
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("start syncd at %s: %v", addr, err)
	}
	t.Cleanup(func() { s.Stop() })
	return withTenant(t, s)
}

// jtiOf reads the jti claim of a JWT (no verification: the test's own token).
func jtiOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.JTI == "" {
		t.Fatalf("no jti: %v", err)
	}
	return c.JTI
}
