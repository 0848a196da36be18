// Package syncdtest runs the real syncd (cmd/syncd/daemon) in the test's own process
// on 127.0.0.1 with a temporary data dir, for the tests of every package that needs a
// server: it writes the config file, starts and stops the daemon, creates tenants,
// issues tokens and dials the WebSocket. It is the one test server of the repository;
// tests of packages the daemon imports (transport/hub, transport/admin, ...) use
// transport/servertest's stores instead.
//
// Tenants and tokens are made in one place, [Server.Tenant] and [Server.Token] (both
// through newTenant and newToken below), so a change of how tenants and auth are
// constructed or called is fixed here once.
package syncdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// Options shape one server. The zero value is plain HTTP on 127.0.0.1:0 with data in a
// new temporary directory, log level warn, min_free_disk 1MiB.
type Options struct {
	// Config holds top-level config keys on top of the defaults above; a nil value
	// removes a default key.
	Config map[string]any
	// Listen is the address ("" = 127.0.0.1:0).
	Listen string
	// DataDir is the data dir ("" = a new one under the test's temp dir).
	DataDir string
	// TLS puts syncd in manual TLS mode on these files (nil = plain HTTP).
	TLS *TLSFiles
	// Logs receives syncd's logs (nil: kept and printed when the test fails).
	Logs io.Writer
}

// TLSFiles are the certificate and key files of syncd's manual TLS mode.
type TLSFiles struct{ CertFile, KeyFile string }

// Server is one running syncd.
type Server struct {
	D          *daemon.Daemon
	URL        string // http://127.0.0.1:PORT, or https:// with TLS
	DataDir    string
	ConfigPath string
	Logs       io.Writer

	opts Options
}

// Start starts syncd and stops it when the test ends; it fails t if syncd does not
// start.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	var buf *Buffer
	if o.Logs == nil {
		buf = &Buffer{}
		o.Logs = buf
	}
	if o.DataDir == "" {
		o.DataDir = filepath.Join(t.TempDir(), "data")
	}
	s, err := Launch(context.Background(), o)
	if err != nil {
		t.Fatalf("start syncd: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("syncd shutdown: %v", err)
		}
		if buf != nil && t.Failed() {
			t.Logf("syncd logs:\n%s", buf.Tail(200))
		}
	})
	return s
}

// Launch starts syncd without a test (benchmark commands); o.DataDir must be set.
// The caller stops it.
func Launch(ctx context.Context, o Options) (*Server, error) {
	if o.DataDir == "" {
		return nil, fmt.Errorf("syncdtest: no data dir")
	}
	if o.Logs == nil {
		o.Logs = io.Discard
	}
	cfgPath, err := writeConfig(o)
	if err != nil {
		return nil, err
	}
	d, err := daemon.Start(ctx, []string{"-config", cfgPath}, io.Discard, o.Logs)
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	if o.TLS != nil {
		scheme = "https://"
	}
	return &Server{D: d, URL: scheme + d.Addr(), DataDir: o.DataDir, ConfigPath: cfgPath, Logs: o.Logs, opts: o}, nil
}

// writeConfig writes the config file beside the data dir.
func writeConfig(o Options) (string, error) {
	listen := o.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	cfg := map[string]any{
		"listen":   listen,
		"data_dir": o.DataDir,
		"log":      map[string]any{"level": "warn"},
		"limits":   map[string]any{"min_free_disk": "1MiB"},
	}
	if o.TLS != nil {
		cfg["tls"] = map[string]any{"mode": "manual", "cert_file": o.TLS.CertFile, "key_file": o.TLS.KeyFile}
	}
	for k, v := range o.Config {
		if v == nil {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(o.DataDir), filepath.Base(o.DataDir)+".json")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, b, 0o600)
}

// Addr is the host:port syncd listens on.
func (s *Server) Addr() string { return s.D.Addr() }

// WSURL is the /ws endpoint.
func (s *Server) WSURL() string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws"
}

// Stop shuts syncd down (idempotent).
func (s *Server) Stop() error {
	if s.D == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := s.D.Shutdown(ctx)
	s.D = nil
	return err
}

// Restart stops syncd (unless stopped) and starts it again on the same data dir and
// config: on addr when not "" (retrying while the port is released, e.g. the old
// s.Addr()), else on the configured listen address (a new port for 127.0.0.1:0).
func (s *Server) Restart(ctx context.Context, addr string) error {
	o := s.opts
	if addr != "" {
		o.Listen = addr
	}
	if err := s.Stop(); err != nil {
		return err
	}
	var err error
	for i := 0; i < 50; i++ {
		var n *Server
		if n, err = Launch(ctx, o); err == nil {
			s.D, s.URL = n.D, n.URL
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Tenant creates tenant name with o (an existing one is kept).
func (s *Server) Tenant(t testing.TB, name string, o tenants.Options) {
	t.Helper()
	if err := newTenant(context.Background(), s.D, name, o); err != nil {
		t.Fatalf("create tenant %s: %v", name, err)
	}
}

// Token issues a token of role for subject on tenant, valid for an hour.
func (s *Server) Token(t testing.TB, tenant, subject, role string) string {
	t.Helper()
	tok, err := newToken(context.Background(), s.D, tenant, subject, role, time.Hour)
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	return tok
}

// TokenTTL is Token valid for ttl.
func (s *Server) TokenTTL(t testing.TB, tenant, subject, role string, ttl time.Duration) string {
	t.Helper()
	tok, err := newToken(context.Background(), s.D, tenant, subject, role, ttl)
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	return tok
}

// newTenant and newToken are the only calls into tenants and auth of this package.
func newTenant(ctx context.Context, d *daemon.Daemon, name string, o tenants.Options) error {
	if _, err := d.Registry().Create(ctx, name, o); err != nil && protocol.CodeOf(err) != protocol.CodeConflict {
		return err
	}
	return nil
}

func newToken(ctx context.Context, d *daemon.Daemon, tenant, subject, role string, ttl time.Duration) (string, error) {
	tok, _, err := d.Auth().IssueTenantToken(ctx, tenant, subject, role, ttl)
	return tok, err
}

// Dial opens the WebSocket with token in the Authorization header (none when "").
func (s *Server) Dial(t testing.TB, token string) *websocket.Conn {
	t.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := websocket.DefaultDialer.Dial(s.WSURL(), hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial %s: %v", s.WSURL(), err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// Buffer is a goroutine-safe log buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Tail is the last n lines written.
func (b *Buffer) Tail(n int) string {
	lines := strings.SplitAfter(b.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
