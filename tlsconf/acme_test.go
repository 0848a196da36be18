package tlsconf

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/tlsconf/internal/pebbletest"
)

// pebbleTimeout bounds one certificate order in these tests.
const pebbleTimeout = 60 * time.Second

// testApp is a small HTTPS app standing in for syncd's routes: PUT /upload answers
// the SHA-256 of the body, /ws echoes WebSocket messages.
func testApp() http.Handler {
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, "read", 400)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	})
	return mux
}

// acmeServer is one syncd-like server in acme mode.
type acmeServer struct {
	setup *Setup
	addr  string // main (TLS) listener
	srvs  []*http.Server
	// challenges counts HTTP-01 challenge requests on the http_listen handler.
	challenges atomic.Int32
}

// quietLog drops http.Server's handshake error lines (expected in these tests).
var quietLog = log.New(io.Discard, "", 0)

func (s *acmeServer) close() {
	for _, h := range s.srvs {
		h.Close()
	}
	s.setup.Close()
}

// startACME serves testApp in acme mode on ln (and the HTTP-01 handler on httpLn when
// not nil), the way cmd/syncd/daemon does: http.Server.ServeTLS with Setup.TLSConfig.
func startACME(t *testing.T, cfg Options, ln, httpLn net.Listener, logger *slog.Logger) *acmeServer {
	t.Helper()
	setup, err := New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	s := &acmeServer{setup: setup, addr: ln.Addr().String()}
	main := &http.Server{Handler: setup.Middleware(testApp()), TLSConfig: setup.TLSConfig, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
	go main.ServeTLS(ln, "", "")
	s.srvs = append(s.srvs, main)
	if httpLn != nil {
		if setup.HTTPHandler == nil {
			t.Fatal("no HTTP-01 handler")
		}
		h := setup.HTTPHandler
		plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
				s.challenges.Add(1)
			}
			h.ServeHTTP(w, r)
		}), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
		go plain.Serve(httpLn)
		s.srvs = append(s.srvs, plain)
	}
	t.Cleanup(s.close)
	return s
}

// acmeOptions returns acme-mode options for domains with Pebble as the CA, the cache
// under dataDir and syncd's default HSTS.
func acmeOptions(p *pebbletest.Pebble, dataDir, listen string, domains ...string) Options {
	return Options{
		Mode:      ModeACME,
		Domains:   domains,
		Email:     "ops@sync.test",
		Directory: p.DirectoryURL,
		CAFile:    p.CAFile,
		CacheDir:  filepath.Join(dataDir, "acme"),
		Listen:    listen,
		HSTS:      HSTS{MaxAge: 8760 * time.Hour},
	}
}

// handshake connects to addr with SNI name, verifying against roots.
func handshake(p *pebbletest.Pebble, addr, name string) (*x509Leaf, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{RootCAs: p.Roots, ServerName: name}}
	ctx, cancel := context.WithTimeout(context.Background(), pebbleTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	leaf := c.(*tls.Conn).ConnectionState().PeerCertificates[0]
	return &x509Leaf{serial: leaf.SerialNumber, names: leaf.DNSNames, notAfter: leaf.NotAfter}, nil
}

type x509Leaf struct {
	serial   *big.Int
	names    []string
	notAfter time.Time
}

// TestACMEPebble runs the acme mode against a real ACME server (Pebble) on loopback:
// TLS-ALPN-01 issuance on the main listener, an HTTPS upload and a wss round trip with
// Pebble's root, no certificate for a name outside tls.domains, HTTP-01 issuance on
// http_listen, and a restart served from the cache without a new order.
func TestACMEPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pebble")
	}
	lnA, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lnBHTTP, _ := net.Listen("tcp", "127.0.0.1:0")
	lnB, _ := net.Listen("tcp", "127.0.0.1:0")
	portA := lnA.Addr().(*net.TCPAddr).Port
	p := pebbletest.Start(t, portA, lnBHTTP.Addr().(*net.TCPAddr).Port)

	logs := &pebbletest.SafeBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dataA := t.TempDir()
	cfgA := acmeOptions(p, dataA, lnA.Addr().String(), "a.sync.test")
	a := startACME(t, cfgA, lnA, nil, logger)

	// First handshake: autocert orders the certificate (TLS-ALPN-01 on this listener).
	start := time.Now()
	leaf, err := handshake(p, a.addr, "a.sync.test")
	if err != nil {
		t.Fatalf("handshake for a.sync.test: %v\nlogs:\n%s", err, logs.String())
	}
	t.Logf("certificate issued in %v", time.Since(start))
	if !slices.Equal(leaf.names, []string{"a.sync.test"}) {
		t.Fatalf("certificate names %v", leaf.names)
	}

	// HTTPS upload over HTTP/2, verified with Pebble's root only.
	tr := &http.Transport{
		DialContext:       pebbletest.DialTo(a.addr),
		TLSClientConfig:   &tls.Config{RootCAs: p.Roots},
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: pebbleTimeout}
	body := strings.Repeat("syncspace", 100000)
	req, _ := http.NewRequest("PUT", "https://a.sync.test:"+strconv.Itoa(portA)+"/upload", strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := sha256.Sum256([]byte(body))
	if resp.StatusCode != 201 || string(got) != hex.EncodeToString(want[:]) || resp.ProtoMajor != 2 {
		t.Fatalf("upload: %s %d %q", resp.Proto, resp.StatusCode, got)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000" {
		t.Fatalf("HSTS %q", hsts)
	}

	// wss round trip.
	wd := websocket.Dialer{NetDialContext: pebbletest.DialTo(a.addr), TLSClientConfig: &tls.Config{RootCAs: p.Roots}, HandshakeTimeout: 30 * time.Second}
	ws, _, err := wd.Dial("wss://a.sync.test:"+strconv.Itoa(portA)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := `{"type":"Subscribe","client_id":"c1"}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, echo, err := ws.ReadMessage(); err != nil || string(echo) != msg {
		t.Fatalf("wss echo %q %v", echo, err)
	}
	ws.Close()

	// A client without Pebble's root refuses the certificate.
	if _, err := (&http.Client{Transport: &http.Transport{DialContext: pebbletest.DialTo(a.addr)}, Timeout: 10 * time.Second}).Get("https://a.sync.test/"); err == nil {
		t.Fatal("certificate accepted without Pebble's root")
	}

	// Names outside tls.domains get no certificate (the DNS would resolve them).
	for _, name := range []string{"b.sync.test", "other.test", "sync.test", "a.sync.test.evil.test"} {
		if _, err := handshake(p, a.addr, name); err == nil {
			t.Fatalf("certificate served for %q", name)
		}
	}
	entries, _ := os.ReadDir(cfgA.CacheDir)
	var cached []string
	for _, e := range entries {
		cached = append(cached, e.Name())
		if strings.Contains(e.Name(), "other") || strings.HasPrefix(e.Name(), "b.sync") {
			t.Fatalf("cache holds %q", e.Name())
		}
	}
	if !slices.Contains(cached, "a.sync.test") {
		t.Fatalf("cache entries %v", cached)
	}
	if fi, err := os.Stat(cfgA.CacheDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(cfgA.CacheDir, "a.sync.test")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("cached key and certificate readable by others: %v %v", fi, err)
	}

	// HTTP-01: server B's main listener is not where Pebble validates TLS-ALPN-01, so
	// autocert falls back to HTTP-01 on its http_listen.
	cfgB := acmeOptions(p, t.TempDir(), lnB.Addr().String(), "b.sync.test")
	cfgB.HTTP01 = true
	b := startACME(t, cfgB, lnB, lnBHTTP, logger)
	leafB, err := handshake(p, b.addr, "b.sync.test")
	if err != nil {
		t.Fatalf("HTTP-01 issuance: %v\nlogs:\n%s", err, logs.String())
	}
	if b.challenges.Load() == 0 {
		t.Fatal("no HTTP-01 challenge request reached http_listen")
	}
	if !slices.Equal(leafB.names, []string{"b.sync.test"}) {
		t.Fatalf("certificate names %v", leafB.names)
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: pebbletest.DialTo(lnBHTTP.Addr().String())}}
	resp, err = noRedirect.Get("http://b.sync.test/api/list?path=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 301 || loc != "https://b.sync.test:"+strconv.Itoa(lnB.Addr().(*net.TCPAddr).Port)+"/api/list?path=x" {
		t.Fatalf("redirect %d %q", resp.StatusCode, loc)
	}
	resp, err = noRedirect.Get("http://a.sync.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("redirect for a host outside domains: %d", resp.StatusCode)
	}

	// Restart A on a new port with the same data dir: the cached certificate is served,
	// with no new order (a new order would carry a new serial). The CA is made
	// unreachable to prove that nothing is asked of it.
	a.close()
	lnA2, _ := net.Listen("tcp", "127.0.0.1:0")
	cfgA2 := cfgA
	cfgA2.Listen = lnA2.Addr().String()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	cfgA2.Directory = "https://" + dead.Addr().String() + "/dir"
	dead.Close()
	a2 := startACME(t, cfgA2, lnA2, nil, logger)
	leaf2, err := handshake(p, a2.addr, "a.sync.test")
	if err != nil {
		t.Fatalf("after restart: %v\nlogs:\n%s", err, logs.String())
	}
	if leaf2.serial.Cmp(leaf.serial) != 0 {
		t.Fatalf("restart served serial %v, want the cached %v", leaf2.serial, leaf.serial)
	}
	// And with the real CA reachable again, still the same certificate.
	a2.close()
	lnA3, _ := net.Listen("tcp", "127.0.0.1:0")
	cfgA3 := cfgA
	cfgA3.Listen = lnA3.Addr().String()
	a3 := startACME(t, cfgA3, lnA3, nil, logger)
	leaf3, err := handshake(p, a3.addr, "a.sync.test")
	if err != nil || leaf3.serial.Cmp(leaf.serial) != 0 {
		t.Fatalf("second restart: %v %v", leaf3, err)
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatal("key material logged")
	}
}
