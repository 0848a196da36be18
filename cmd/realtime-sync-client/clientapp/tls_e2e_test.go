package clientapp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
)

// testPKI is a private CA and a server certificate for 127.0.0.1 and localhost.
type testPKI struct {
	CAFile string
	Files  syncdtest.TLSFiles
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func makePKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syncspace test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{CAFile: filepath.Join(dir, "ca.pem"), Files: syncdtest.TLSFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}}
	writePEM(t, p.CAFile, "CERTIFICATE", caDER)
	writePEM(t, p.Files.CertFile, "CERTIFICATE", leafDER)
	writePEM(t, p.Files.KeyFile, "EC PRIVATE KEY", keyDER)
	return p
}

// startTLSServer starts syncd in manual TLS mode with a private CA.
func startTLSServer(t *testing.T) (*server, testPKI) {
	t.Helper()
	pki := makePKI(t)
	return withTenant(t, syncdtest.Start(t, syncdtest.Options{TLS: &pki.Files})), pki
}

// modeIs holds when DIR's status file says mode (and the client is running).
func modeIs(dir, mode string) func() bool {
	return func() bool {
		s, err := readStatusFile(dir)
		return err == nil && s.Running && s.Mode == mode
	}
}

// Issue 11 item 1: live sync over wss with a private CA (--ca-file) connects, and a
// change crosses between two clients over the socket: with --interval 1h nothing else
// could carry it within the test.
func TestLiveSyncOverTLS(t *testing.T) {
	srv, pki := startTLSServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	wss := strings.Replace(srv.URL, "https://", "wss://", 1)
	ca := startClient(t, "A", srv.URL, tok, a, "--realtime", "--interval", "1h", "--ca-file", pki.CAFile)
	cb := startClient(t, "B", wss, tok, b, "--realtime", "--interval", "1h", "--ca-file", pki.CAFile)
	eventually(t, waitLong, "A live", modeIs(a, "live"))
	eventually(t, waitLong, "B live", modeIs(b, "live"))

	const n = 20
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		name := filepath.Join(a, fmt.Sprintf("f%02d.txt", i))
		content := fmt.Sprintf("change %d", i)
		start := time.Now()
		writeFile(t, name, content)
		eventually(t, waitLong, "A→B over wss", fileIs(filepath.Join(b, filepath.Base(name)), content))
		lat = append(lat, time.Since(start))
	}
	writeFile(t, filepath.Join(b, "back.txt"), "from B")
	eventually(t, waitLong, "B→A over wss", fileIs(filepath.Join(a, "back.txt"), "from B"))
	slices.Sort(lat)
	t.Logf("live propagation over wss, %d changes: p50 %v, p90 %v, max %v", n, lat[n/2], lat[n*9/10], lat[n-1])

	for _, c := range []*client{ca, cb} {
		logs := c.logs.String()
		if !strings.Contains(logs, "live connection up") {
			t.Errorf("client %s never said it was live", c.name)
		}
		if strings.Contains(logs, "falling back to polling") || strings.Contains(logs, `"h2"`) {
			t.Errorf("client %s fell back to polling:\n%s", c.name, logs)
		}
	}
	s, err := readStatusFile(b)
	if err != nil || s.Mode != "live" || s.Server != srv.URL || s.Tenant != "t1" || s.Subject != "alice" || s.LastSync == nil {
		t.Fatalf("status of B: %+v %v", s, err)
	}
}

// The same with the CA given through SSL_CERT_FILE (no --ca-file), in a child process
// running the real main (x509 reads SSL_CERT_FILE once per process).
func TestLiveSyncOverTLSWithSSLCertFile(t *testing.T) {
	srv, pki := startTLSServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	startClient(t, "A", srv.URL, tok, a, "--realtime", "--interval", "1h", "--ca-file", pki.CAFile)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "--server", srv.URL, "--local-path", b, "--token-file", tok, "--realtime", "--interval", "1h")
	cmd.Env = append(os.Environ(), "RSC_CHILD=1", "SSL_CERT_FILE="+pki.CAFile)
	var out syncBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("child logs:\n%s", out.String())
		}
	})
	eventually(t, waitLong, "A live", modeIs(a, "live"))
	eventually(t, waitLong, "child live", modeIs(b, "live"))
	writeFile(t, filepath.Join(a, "x.txt"), "over wss")
	eventually(t, waitLong, "A→child over wss", fileIs(filepath.Join(b, "x.txt"), "over wss"))
	if strings.Contains(out.String(), "falling back to polling") {
		t.Fatalf("child fell back to polling:\n%s", out.String())
	}
}

// Without the CA, the error names --ca-file (issue 13 item 5).
func TestUntrustedCertificateNamesCAFile(t *testing.T) {
	srv, _ := startTLSServer(t)
	tok := writeToken(t, srv.Token)
	code, logs := runOnce(t, srv.URL, tok, t.TempDir())
	if code != 1 || !strings.Contains(logs, "--ca-file") || !strings.Contains(logs, srv.URL+"/api/list") {
		t.Fatalf("exit %d, logs:\n%s", code, logs)
	}
	// http:// to the TLS port says the server speaks TLS.
	plain := strings.Replace(srv.URL, "https://", "http://", 1)
	code, logs = runOnce(t, plain, tok, t.TempDir())
	if code != 1 || !strings.Contains(logs, "speaks TLS") || !bytes.Contains([]byte(logs), []byte(plain+"/api/list")) {
		t.Fatalf("exit %d, logs:\n%s", code, logs)
	}
}
