package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tlsconf"
)

// testCA is a throw-away CA issuing the server's and a client's certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns the PEM certificate and key of a leaf for usage (server or client).
func (ca *testCA) issue(t *testing.T, serial int64, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// TestHealthcheckClientAuthRequire: with tls.client_auth "require" every handshake
// without a client certificate fails, the probe's included, which has none; yet
// `syncd -healthcheck` must still tell whether the server answers /readyz (a
// container would otherwise be unhealthy for ever). The probe's own protocol reaches
// /readyz and nothing else, and every other handshake still needs a certificate.
func TestHealthcheckClientAuthRequire(t *testing.T) {
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, 2, x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := ca.issue(t, 3, x509.ExtKeyUsageClientAuth)
	cfgPath, d := startManualTLS(t, srvCert, srvKey, func(dir string) map[string]any {
		return map[string]any{"client_ca": writeTestFile(t, dir, "ca.pem", ca.pem), "client_auth": "require"}
	})
	var out, errb syncBuffer
	if code := runHealthcheck(context.Background(), []string{"-config", cfgPath}, &out, &errb, envFunc(map[string]string{"SYNCD_LISTEN": d.Addr()})); code != 0 {
		t.Fatalf("healthcheck with client_auth require: exit %d, %s", code, errb.String())
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	get := func(conf *tls.Config, path string) (int, string, error) {
		// HTTP/2 is attempted unless the config names its own protocol (the probe's).
		tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: len(conf.NextProtos) == 0}
		c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		resp, err := c.Get("https://" + d.Addr() + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Proto, nil
	}
	// No certificate, the usual protocols: refused at the handshake.
	if _, _, err := get(&tls.Config{RootCAs: roots}, "/healthz"); err == nil {
		t.Fatal("require: a connection without a client certificate was served")
	}
	// The probe's protocol: /readyz only; /healthz, /api, /admin and /ws are 404.
	health := &tls.Config{RootCAs: roots, NextProtos: []string{tlsconf.HealthALPN}}
	if code, _, err := get(health, "/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("GET /readyz over %s: %d, %v", tlsconf.HealthALPN, code, err)
	}
	for _, p := range []string{"/healthz", "/api/list", "/admin/tenants", "/ws", "/readyz/x", "/.well-known/jwks.json"} {
		if code, _, err := get(health, p); err != nil || code != http.StatusNotFound {
			t.Fatalf("GET %s over %s: %d, %v; want 404", p, tlsconf.HealthALPN, code, err)
		}
	}
	// With a certificate of the CA: served, over HTTP/2 as before.
	pair, err := tls.X509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	code, proto, err := get(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}, "/healthz")
	if err != nil || code != http.StatusOK || proto != "HTTP/2.0" {
		t.Fatalf("with a client certificate: %d %s %v", code, proto, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTestFile writes data to dir/name (0600) and returns its path.
func writeTestFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startManualTLS starts syncd on 127.0.0.1:0 in manual TLS mode with the certificate
// and key given, plus the tls keys extra returns (given the config's directory), and
// shuts it down when the test ends. It returns the config file's path and the daemon.
func startManualTLS(t *testing.T, cert, key []byte, extra func(dir string) map[string]any) (string, *Daemon) {
	t.Helper()
	dir := t.TempDir()
	tlsCfg := map[string]any{"mode": "manual", "cert_file": writeTestFile(t, dir, "cert.pem", cert), "key_file": writeTestFile(t, dir, "key.pem", key)}
	if extra != nil {
		maps.Copy(tlsCfg, extra(dir))
	}
	cfgPath := writeTestFile(t, dir, "syncd.json", mustJSON(t, map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, "data"),
		"log": map[string]any{"level": "warn"}, "tls": tlsCfg}))
	d, err := start(context.Background(), []string{"-config", cfgPath}, &syncBuffer{}, &syncBuffer{}, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return cfgPath, d
}
