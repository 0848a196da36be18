package tlsconf

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tlsconf/internal/pebbletest"
)

// manualOptions returns manual-mode options for the pair, with syncd's default HSTS.
func manualOptions(certFile, keyFile string) Options {
	return Options{Mode: ModeManual, CertFile: certFile, KeyFile: keyFile,
		Listen: "127.0.0.1:0", HSTS: HSTS{MaxAge: 8760 * time.Hour}}
}

// serve runs an HTTPS server with setup on loopback and returns its address.
func serve(t *testing.T, setup *Setup) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: setup.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello "+r.Proto)
		})),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(setup.WrapListener(l))
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// peerSerial dials addr and returns the serial of the certificate served.
func peerSerial(t *testing.T, addr string, ca *pebbletest.CA) (*big.Int, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "sync.test"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// waitSerial polls until new connections see want, or fails after 10 s.
func waitSerial(t *testing.T, addr string, ca *pebbletest.CA, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := peerSerial(t, addr, ca)
		if err == nil && got.Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serial %v (err %v), want %v", got, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getOn sends one HTTP/1.1 request on an open connection and returns the body.
func getOn(t *testing.T, c *tls.Conn, br *bufio.Reader) string {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: sync.test\r\n\r\n"); err != nil {
		t.Fatalf("write on old connection: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read on old connection: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return string(b)
}

func TestManualReload(t *testing.T) {
	oldDebounce := reloadDebounce
	reloadDebounce = 50 * time.Millisecond
	t.Cleanup(func() { reloadDebounce = oldDebounce })

	ca := pebbletest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1, s1 := ca.IssueNow(t, "sync.test")
	replaceFile(t, certFile, c1)
	replaceFile(t, keyFile, k1)

	logs := &pebbletest.SafeBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	setup, err := New(context.Background(), manualOptions(certFile, keyFile), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setup.Close() })
	if setup.HTTPHandler != nil || setup.Manager != nil {
		t.Fatal("manual mode has no HTTP-01 handler or ACME manager")
	}
	addr := serve(t, setup)
	waitSerial(t, addr, ca, s1)

	// A client stays connected across the replacement.
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "sync.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldBR := bufio.NewReader(old)
	if got := getOn(t, old, oldBR); got != "hello HTTP/1.1" {
		t.Fatalf("body %q", got)
	}

	// Replace both files by rename, key first (a moment where the pair mismatches).
	c2, k2, s2 := ca.IssueNow(t, "sync.test")
	replaceFile(t, keyFile, k2)
	replaceFile(t, certFile, c2)
	waitSerial(t, addr, ca, s2)
	if got := getOn(t, old, oldBR); got != "hello HTTP/1.1" {
		t.Fatalf("old connection after reload: %q", got)
	}
	if s := old.ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(s1) != 0 {
		t.Fatalf("old connection serial changed to %v", s)
	}

	// Bad new pairs keep the current certificate and log an error.
	c3, _, _ := ca.IssueNow(t, "sync.test")
	expiredCert, expiredKey, _ := ca.Issue(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "sync.test")
	bad := []struct {
		name       string
		cert, key  []byte
		wantLogged string
	}{
		{"garbage cert", []byte("not a certificate"), k2, "rejected"},
		{"key of another cert", c3, k2, "rejected"},
		{"empty files", []byte{}, []byte{}, "rejected"},
		{"expired pair", expiredCert, expiredKey, "not valid now"},
	}
	for _, b := range bad {
		before := strings.Count(logs.String(), b.wantLogged)
		replaceFile(t, certFile, b.cert)
		replaceFile(t, keyFile, b.key)
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(logs.String(), b.wantLogged) == before {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no error logged; logs:\n%s", b.name, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		got, err := peerSerial(t, addr, ca)
		if err != nil || got.Cmp(s2) != 0 {
			t.Fatalf("%s: serial %v err %v, want the previous %v", b.name, got, err, s2)
		}
	}
	// Removing the files keeps the current certificate too.
	os.Remove(certFile)
	time.Sleep(200 * time.Millisecond)
	if got, err := peerSerial(t, addr, ca); err != nil || got.Cmp(s2) != 0 {
		t.Fatalf("after removal: %v %v", got, err)
	}

	// A good pair written in place (no rename) is picked up as well.
	c4, k4, s4 := ca.IssueNow(t, "sync.test")
	if err := os.WriteFile(keyFile, k4, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, c4, 0o600); err != nil {
		t.Fatal(err)
	}
	waitSerial(t, addr, ca, s4)
	if got := getOn(t, old, oldBR); got != "hello HTTP/1.1" {
		t.Fatalf("old connection at the end: %q", got)
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatal("key material in the logs")
	}
}

// TestManualPoll checks that the slow poll catches a change the watcher missed: the
// directory watched is replaced, so fsnotify sees nothing of the new files.
func TestManualPoll(t *testing.T) {
	oldPoll := reloadPoll
	reloadPoll = 100 * time.Millisecond
	t.Cleanup(func() { reloadPoll = oldPoll })
	ca := pebbletest.NewCA(t)
	base := t.TempDir()
	dir := filepath.Join(base, "certs")
	os.Mkdir(dir, 0o700)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1, s1 := ca.IssueNow(t, "sync.test")
	replaceFile(t, certFile, c1)
	replaceFile(t, keyFile, k1)
	setup, err := New(context.Background(), manualOptions(certFile, keyFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	addr := serve(t, setup)
	waitSerial(t, addr, ca, s1)

	// Swap the whole directory.
	next := filepath.Join(base, "next")
	os.Mkdir(next, 0o700)
	c2, k2, s2 := ca.IssueNow(t, "sync.test")
	os.WriteFile(filepath.Join(next, "tls.crt"), c2, 0o600)
	os.WriteFile(filepath.Join(next, "tls.key"), k2, 0o600)
	if err := os.Rename(dir, filepath.Join(base, "old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, dir); err != nil {
		t.Fatal(err)
	}
	waitSerial(t, addr, ca, s2)
}

func TestManualProtocols(t *testing.T) {
	ca := pebbletest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c1, k1, _ := ca.IssueNow(t, "sync.test")
	replaceFile(t, certFile, c1)
	replaceFile(t, keyFile, k1)
	cfg := manualOptions(certFile, keyFile)
	cfg.HSTS = HSTS{MaxAge: 24 * time.Hour, IncludeSubdomains: true}
	setup, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	if setup.TLSConfig.MinVersion != tls.VersionTLS12 {
		t.Fatal("MinVersion must be TLS 1.2")
	}
	addr := serve(t, setup)

	// HTTP/2 with HSTS.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "sync.test"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "hello HTTP/2.0" {
		t.Fatalf("proto %s body %q", resp.Proto, body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=86400; includeSubDomains" {
		t.Fatalf("HSTS %q", got)
	}

	// TLS 1.1 and below are refused.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "sync.test", MinVersion: v, MaxVersion: v})
		if err == nil {
			c.Close()
			t.Fatalf("TLS version %x accepted", v)
		}
	}
	// Plain HTTP on the TLS port gets no answer but a TLS error.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: sync.test\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	c.Close()
	if bytes.Contains(b, []byte("hello")) {
		t.Fatal("plain HTTP served on the TLS listener")
	}
}

func TestManualLoadErrors(t *testing.T) {
	ca := pebbletest.NewCA(t)
	dir := t.TempDir()
	c1, k1, _ := ca.IssueNow(t, "sync.test")
	_, k2, _ := ca.IssueNow(t, "sync.test")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		return p
	}
	good, goodKey, otherKey := write("c.pem", c1), write("k.pem", k1), write("k2.pem", k2)
	garbage := write("garbage.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	cases := []struct{ name, cert, key string }{
		{"missing cert", filepath.Join(dir, "nope.pem"), goodKey},
		{"missing key", good, filepath.Join(dir, "nope.pem")},
		{"mismatched key", good, otherKey},
		{"garbage cert", garbage, goodKey},
		{"key as cert", goodKey, good},
		{"directory", dir, goodKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(context.Background(), manualOptions(tc.cert, tc.key), nil)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "config: tls.cert_file: ") {
				t.Fatalf("error %v does not name tls.cert_file", err)
			}
		})
	}
}

func TestCloseStopsWatcher(t *testing.T) {
	ca := pebbletest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c1, k1, _ := ca.IssueNow(t, "sync.test")
	replaceFile(t, certFile, c1)
	replaceFile(t, keyFile, k1)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, manualOptions(certFile, keyFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel() // ctx ending stops the watcher; Close then returns at once
	done := make(chan struct{})
	go func() { s.Close(); s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
}
