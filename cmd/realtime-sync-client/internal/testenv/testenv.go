// Package testenv starts a real syncd (cmd/syncd/daemon) on 127.0.0.1 with a temporary
// data dir for the client's end-to-end tests and benchmarks, and issues tenant tokens.
package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/daemon"
)

// Server is one running syncd.
type Server struct {
	D       *daemon.Daemon
	DataDir string
	Listen  string // the address it was asked to listen on
	URL     string // http://127.0.0.1:PORT, or https:// with TLS
	Token   string // a write token on tenant "t1"
	Logs    io.Writer
	TLS     *TLSFiles // manual TLS (nil: plain HTTP)
}

// TLSFiles are the certificate and key files of syncd's manual TLS mode.
type TLSFiles struct{ CertFile, KeyFile string }

// Start starts syncd on listen ("127.0.0.1:0" for any port) with data in dataDir and
// creates tenant t1 (unless it exists) with a write token.
func Start(ctx context.Context, dataDir, listen string, logs io.Writer) (*Server, error) {
	return StartTLS(ctx, dataDir, listen, nil, logs)
}

// StartTLS is Start with syncd in manual TLS mode on tlsFiles (nil: plain HTTP).
func StartTLS(ctx context.Context, dataDir, listen string, tlsFiles *TLSFiles, logs io.Writer) (*Server, error) {
	if logs == nil {
		logs = io.Discard
	}
	cfg := map[string]any{
		"listen":   listen,
		"data_dir": dataDir,
		"log":      map[string]string{"level": "warn"},
	}
	scheme := "http://"
	if tlsFiles != nil {
		cfg["tls"] = map[string]string{"mode": "manual", "cert_file": tlsFiles.CertFile, "key_file": tlsFiles.KeyFile}
		scheme = "https://"
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+".json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	d, err := daemon.Start(ctx, []string{"-config", cfgPath}, io.Discard, logs)
	if err != nil {
		return nil, err
	}
	s := &Server{D: d, DataDir: dataDir, Listen: listen, URL: scheme + d.Addr(), Logs: logs, TLS: tlsFiles}
	if _, err := d.Registry().Get(ctx, "t1"); err != nil {
		if _, err := d.Registry().Create(ctx, "t1", tenantOptions()); err != nil {
			d.Shutdown(ctx)
			return nil, fmt.Errorf("create tenant: %w", err)
		}
	}
	tok, err := s.IssueToken(ctx, "alice")
	if err != nil {
		d.Shutdown(ctx)
		return nil, err
	}
	s.Token = tok
	return s, nil
}

// IssueToken issues a write token on tenant t1 for subject.
func (s *Server) IssueToken(ctx context.Context, subject string) (string, error) {
	tok, _, err := s.D.Auth().IssueTenantToken(ctx, "t1", subject, "write", time.Hour)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return tok, nil
}

// Stop shuts the server down.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return s.D.Shutdown(ctx)
}

// Restart stops the server and starts it again on the same address and data dir.
func (s *Server) Restart(ctx context.Context) error {
	addr := s.D.Addr()
	if err := s.Stop(); err != nil {
		return err
	}
	return s.StartAgain(ctx, addr)
}

// StartAgain starts a stopped server again on addr (its old address) with the same
// data dir, retrying while the port is being released.
func (s *Server) StartAgain(ctx context.Context, addr string) error {
	var err error
	for i := 0; i < 50; i++ {
		var n *Server
		n, err = StartTLS(ctx, s.DataDir, addr, s.TLS, s.Logs)
		if err == nil {
			s.D = n.D
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
