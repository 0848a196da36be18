// Package tlsconf builds what syncd needs to serve HTTPS and wss for the three tls
// modes of SPEC §5:
//
//   - "off": no TLS (TLSConfig nil). Allowed on loopback, or anywhere when written out
//     explicitly for running behind a TLS proxy (the caller's config checks enforce
//     that).
//   - "manual": a certificate and key from files, reloaded when the files change (an
//     fsnotify watch on their directories plus a slow poll); a bad new pair keeps the
//     old certificate and logs an error.
//   - "acme": certificates from an ACME CA via golang.org/x/crypto/acme/autocert, only
//     for tls.domains, cached in data_dir/acme (0700), TLS-ALPN-01 on the main listener
//     and HTTP-01 on tls.http_listen, whose handler redirects to https only for a Host
//     in tls.domains.
//
// Every mode gets TLS 1.2 at least, HTTP/2 and HTTP/1.1 via ALPN, and a middleware that
// sets Strict-Transport-Security on HTTPS responses.
//
// The package takes its own Options (syncd fills them from its config) and returns
// plain errors; those about a setting name it by its config key (tls.cert_file, ...).
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Mode is a tls mode.
type Mode string

// The tls modes.
const (
	ModeOff    Mode = "off"
	ModeManual Mode = "manual"
	ModeACME   Mode = "acme"
)

// Options configure New. The zero value is TLS off, with an HSTS max-age of 0.
type Options struct {
	// Mode is the tls mode; "" means ModeOff.
	Mode Mode

	// CertFile and KeyFile are the PEM certificate chain and key of manual mode
	// (tls.cert_file, tls.key_file).
	CertFile, KeyFile string

	// Domains are the only names acme mode gets certificates for (tls.domains).
	Domains []string
	// Email is the ACME account's contact (tls.email); "" means none.
	Email string
	// Directory is the ACME directory URL (tls.acme_directory); "" means Let's
	// Encrypt's.
	Directory string
	// CAFile is a PEM file of roots trusted, besides the system's, for the ACME
	// directory's HTTPS (tls.acme_ca_file); "" means the system roots only.
	CAFile string
	// CacheDir is where acme mode keeps its account and certificates; New creates it
	// with mode 0700. Required in acme mode.
	CacheDir string
	// HTTP01 asks, in acme mode, for Setup.HTTPHandler (tls.http_listen is set);
	// false means TLS-ALPN-01 only.
	HTTP01 bool
	// Listen is the main listener's address; its port is the one HTTP redirects
	// point to (omitted when 443 or when Listen has no port).
	Listen string

	// HSTS is the Strict-Transport-Security header of HTTPS responses.
	HSTS HSTS

	// ClientCA is a PEM file of the CAs client certificates must chain to
	// (tls.client_ca); ClientAuth is off, optional or require (tls.client_auth;
	// "" means off). See clientauth.go.
	ClientCA   string
	ClientAuth ClientAuthMode
}

// HSTS configures the Strict-Transport-Security header. The zero value sends
// "max-age=0", which tells browsers to forget an earlier policy.
type HSTS struct {
	MaxAge            time.Duration // rounded down to whole seconds
	IncludeSubdomains bool
	Preload           bool
}

// Setup is the TLS side of one syncd process. Build it with New; call Close when the
// server stops.
type Setup struct {
	// TLSConfig is the server's TLS configuration for the main listener (and the admin
	// listener); nil when tls.mode is off. Wrap listeners with WrapListener or
	// tls.NewListener.
	TLSConfig *tls.Config
	// HTTPHandler serves tls.http_listen in acme mode: HTTP-01 challenges, a redirect
	// to https for a GET or HEAD whose Host is in tls.domains, 400 for other methods on
	// those hosts and 404 for any other Host. Nil in other modes, or when http_listen is
	// "" (then only TLS-ALPN-01 is used).
	HTTPHandler http.Handler
	// Middleware adds Strict-Transport-Security to responses of requests that arrived
	// over TLS. Never nil; it passes requests through unchanged when TLS is off.
	Middleware func(http.Handler) http.Handler
	// Manager is the ACME certificate manager in acme mode, nil otherwise.
	Manager *autocert.Manager

	closeOnce sync.Once
	stop      func()
}

// New builds the Setup for o. In manual mode it loads the key pair (an error names
// tls.cert_file) and starts watching the files until ctx ends or Close is called. In
// acme mode it creates o.CacheDir with mode 0700 and reads o.CAFile. Errors about a
// setting start with "config: " and name it; the others are failures of the system.
// A nil logger discards.
func New(ctx context.Context, o Options, logger *slog.Logger) (*Setup, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "tlsconf")
	s := &Setup{stop: func() {}}
	switch o.Mode {
	case "", ModeOff:
		s.Middleware = func(h http.Handler) http.Handler { return hsts(o.HSTS, h) }
		return s, nil
	case ModeManual:
		r, err := newReloader(ctx, o.CertFile, o.KeyFile, logger)
		if err != nil {
			return nil, err
		}
		s.TLSConfig = baseConfig()
		s.TLSConfig.GetCertificate = r.getCertificate
		s.stop = r.close
	case ModeACME:
		if err := s.setupACME(o, logger); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("config: tls.mode: unknown mode %q", string(o.Mode))
	}
	if err := s.setupClientAuth(ctx, o, logger); err != nil {
		s.Close()
		return nil, err
	}
	s.Middleware = func(h http.Handler) http.Handler { return hsts(o.HSTS, h) }
	return s, nil
}

// Close stops watching certificate files. It is safe to call more than once.
func (s *Setup) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
		}
	})
	return nil
}

// WrapListener returns l wrapped with TLSConfig, or l itself when TLS is off.
func (s *Setup) WrapListener(l net.Listener) net.Listener {
	if s.TLSConfig == nil {
		return l
	}
	return tls.NewListener(l, s.TLSConfig)
}

// baseConfig is the TLS configuration shared by manual and acme mode.
func baseConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	}
}

// setupACME fills s for acme mode.
func (s *Setup) setupACME(o Options, logger *slog.Logger) error {
	dir := o.CacheDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the ACME cache directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("cannot set the ACME cache directory mode: %w", err)
	}
	domains := make(map[string]bool, len(o.Domains))
	for _, d := range o.Domains {
		domains[normalizeHost(d)] = true
	}
	whitelist := autocert.HostWhitelist(o.Domains...)
	policy := func(ctx context.Context, host string) error {
		// autocert passes the Host header of HTTP-01 requests as is (with a port when
		// the CA validates on a non-default port): compare the bare, lowercase name.
		return whitelist(ctx, normalizeHost(host))
	}
	client := &acme.Client{DirectoryURL: o.Directory, UserAgent: "syncd"}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return fmt.Errorf("config: tls.acme_ca_file: cannot read: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("config: tls.acme_ca_file: no PEM certificate found")
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		// Loopback or private CAs: no proxy from the environment.
		tr.Proxy = nil
		client.HTTPClient = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: policy,
		Email:      o.Email,
		Client:     client,
	}
	s.Manager = m
	tc := baseConfig()
	tc.NextProtos = append(tc.NextProtos, acme.ALPNProto)
	tc.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		name := normalizeHost(hello.ServerName)
		if !domains[name] {
			logger.Debug("tls handshake for a name outside tls.domains", "server_name", name, "remote", remote(hello))
			return nil, fmt.Errorf("tlsconf: no certificate for %q", name)
		}
		cert, err := m.GetCertificate(hello)
		if err != nil {
			logger.Warn("acme certificate unavailable", "domain", name, "err", err)
		}
		return cert, err
	}
	s.TLSConfig = tc
	if o.HTTP01 {
		s.HTTPHandler = m.HTTPHandler(redirectHandler(domains, o.Listen))
	}
	return nil
}

func remote(hello *tls.ClientHelloInfo) string {
	if hello.Conn == nil {
		return ""
	}
	return hello.Conn.RemoteAddr().String()
}

// redirectHandler answers plain-HTTP requests on http_listen that are not ACME
// challenges: GET and HEAD for a Host in domains are redirected to the same URL over
// https (on the port of listen, omitted when 443); other methods on those hosts get
// 400; any other Host gets 404.
func redirectHandler(domains map[string]bool, listen string) http.Handler {
	port := ""
	if _, p, err := net.SplitHostPort(listen); err == nil && p != "443" {
		port = p
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := normalizeHost(r.Host)
		if !domains[host] {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use https", http.StatusBadRequest)
			return
		}
		target := "https://" + host
		if port != "" {
			target = "https://" + net.JoinHostPort(host, port)
		}
		uri := r.URL.RequestURI()
		if !strings.HasPrefix(uri, "/") {
			uri = "/"
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target+uri, http.StatusMovedPermanently)
	})
}

// normalizeHost returns host without port, lowercased, without a trailing dot.
func normalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// hsts wraps next so that responses to requests that came over TLS carry
// Strict-Transport-Security built from c.
func hsts(c HSTS, next http.Handler) http.Handler {
	v := "max-age=" + strconv.FormatInt(int64(c.MaxAge/time.Second), 10)
	if c.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if c.Preload {
		v += "; preload"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", v)
		}
		next.ServeHTTP(w, r)
	})
}

// errClosed is returned by a reloader used after close.
var errClosed = errors.New("tlsconf: closed")
