package guard

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// TestLimiterRefusesInsideTLS: on a TLS listener the refusal is an HTTP answer a TLS
// client can read (a plain-text 503 would be garbage to it).
func TestLimiterRefusesInsideTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}

	e := echo.New()
	healthz(e)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := NewLimiter(LimiterOptions{Max: 1})
	srv := &http.Server{Handler: e, TLSConfig: cfg, ConnContext: ConnContext}
	go srv.ServeTLS(lim.Wrap(ln, cfg), "", "")
	t.Cleanup(func() { srv.Close() })

	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	newClient := func() *http.Client {
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	}
	url := "https://" + ln.Addr().String() + "/healthz"
	first := newClient()
	defer first.CloseIdleConnections()
	resp, err := first.Get(url) // holds the one place (keep-alive, HTTP/2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	second := newClient()
	defer second.CloseIdleConnections()
	resp, err = second.Get(url)
	if err != nil {
		t.Fatalf("over the cap, a TLS client must read an answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || resp.ProtoMajor != 1 {
		t.Fatalf("over the cap: %d %s, Retry-After %q", resp.StatusCode, resp.Proto, resp.Header.Get("Retry-After"))
	}
}
