package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
)

// ClientAuthMode is tls.client_auth: whether TLS clients are asked for certificates.
type ClientAuthMode string

// The client_auth modes.
const (
	ClientAuthOff      ClientAuthMode = "off"
	ClientAuthOptional ClientAuthMode = "optional"
	ClientAuthRequire  ClientAuthMode = "require"
)

// clientCAPoll is how often the client CA file is checked for changes.
const clientCAPoll = time.Second

// clientAuth asks TLS clients for certificates signed by the CAs of tls.client_ca
// (mutual TLS): optional (verified when given) or required. It is independent of the
// server certificate, so it works in manual and acme mode alike, and it never applies
// to ACME's acme-tls/1 handshakes (the CA presents no client certificate).
type clientAuth struct {
	file string
	mode tls.ClientAuthType
	base *tls.Config
	log  *slog.Logger

	conf   atomic.Pointer[tls.Config] // base + ClientCAs + ClientAuth, rebuilt on reload
	health *tls.Config                // base, HealthALPN only, no client certificate
	stamp  time.Time
	size   int64
}

// setupClientAuth installs tls.client_ca / tls.client_auth on s.TLSConfig.
func (s *Setup) setupClientAuth(ctx context.Context, o Options, logger *slog.Logger) error {
	var mode tls.ClientAuthType
	switch o.ClientAuth {
	case "", ClientAuthOff:
		return nil
	case ClientAuthOptional:
		mode = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		mode = tls.RequireAndVerifyClientCert
	default:
		return fmt.Errorf("config: tls.client_auth: unknown value %q", o.ClientAuth)
	}
	if s.TLSConfig == nil {
		return errors.New("config: tls.client_auth: needs tls.mode manual or acme")
	}
	ca := &clientAuth{file: o.ClientCA, mode: mode, base: s.TLSConfig.Clone(), log: logger}
	ca.health = ca.base.Clone()
	ca.health.NextProtos = []string{HealthALPN}
	if err := ca.load(); err != nil {
		return err
	}
	s.TLSConfig.GetConfigForClient = ca.configFor
	cctx, cancel := context.WithCancel(ctx)
	prev := s.stop
	s.stop = func() { cancel(); prev() }
	go ca.watch(cctx)
	return nil
}

// HealthALPN is the TLS application protocol of `syncd -healthcheck`'s probe. A
// handshake offering it alone asks for no client certificate whatever
// tls.client_auth says (the probe has none), and negotiates it, never h2 or
// http/1.1: a server answers such a connection only where it registered a handler
// for the protocol (syncd: GET /readyz on the main listener and nothing else); any
// other server closes it unanswered.
const HealthALPN = "syncd-healthcheck/1"

// configFor picks the configuration of one handshake: none for acme-tls/1 (the base
// configuration, no client certificate asked), the health probe's for HealthALPN,
// else the one asking for client certificates.
func (c *clientAuth) configFor(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if len(hello.SupportedProtos) == 1 {
		switch hello.SupportedProtos[0] {
		case acme.ALPNProto:
			return nil, nil
		case HealthALPN:
			return c.health, nil
		}
	}
	return c.conf.Load(), nil
}

// load reads the CA file and swaps in a configuration using it. A file that does not
// parse is an error (at start) and keeps the previous CAs (on reload).
func (c *clientAuth) load() error {
	fi, err := os.Stat(c.file)
	if err != nil {
		return fmt.Errorf("config: tls.client_ca: cannot read: %w", err)
	}
	data, err := os.ReadFile(c.file)
	if err != nil {
		return fmt.Errorf("config: tls.client_ca: cannot read: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return errors.New("config: tls.client_ca: no PEM certificate found")
	}
	conf := c.base.Clone()
	conf.GetConfigForClient = nil
	conf.ClientCAs = pool
	conf.ClientAuth = c.mode
	c.conf.Store(conf)
	c.stamp, c.size = fi.ModTime(), fi.Size()
	return nil
}

// watch reloads the CA file when its modification time or size changes.
func (c *clientAuth) watch(ctx context.Context) {
	t := time.NewTicker(clientCAPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(c.file)
		if err != nil || (fi.ModTime().Equal(c.stamp) && fi.Size() == c.size) {
			continue
		}
		if err := c.load(); err != nil {
			c.log.Error("tls.client_ca changed but cannot be used; keeping the previous CAs", "err", err)
			c.stamp, c.size = fi.ModTime(), fi.Size()
			continue
		}
		c.log.Info("tls.client_ca reloaded")
	}
}
