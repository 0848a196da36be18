package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tlsconf/internal/pebbletest"
)

// shortDebounce makes the reloader react to file events within 50 ms for one test.
func shortDebounce(t *testing.T) {
	old := reloadDebounce
	reloadDebounce = 50 * time.Millisecond
	t.Cleanup(func() { reloadDebounce = old })
}

// servedChain dials addr without verifying and returns how many certificates the
// server sent, and whether they verify for sync.test against roots' pool, with the
// intermediates the server sent and no others (as a client does).
func servedChain(addr string, roots *pebbletest.CA) (int, bool, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "sync.test"}) //nolint:gosec // verified below
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	certs := c.ConnectionState().PeerCertificates
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{DNSName: "sync.test", Roots: roots.Pool, Intermediates: inter})
	return len(certs), err == nil, nil
}

// TestManualReloadChainChange: cert_file rewritten with the same leaf and the
// intermediate it lacked (the usual fix for "unknown authority" in clients) is served
// to new connections, as CONFIG.md promises for any change of the file. The reloader
// compared the leaf alone and kept serving the chain without the intermediate until a
// restart.
func TestManualReloadChainChange(t *testing.T) {
	shortDebounce(t)
	root := pebbletest.NewCA(t)
	inter := root.Intermediate(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	leaf, key, _ := inter.IssueNow(t, "sync.test")
	replaceFile(t, certFile, leaf)
	replaceFile(t, keyFile, key)
	setup, err := New(context.Background(), manualOptions(certFile, keyFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setup.Close() })
	addr := serve(t, setup)
	if n, ok, err := servedChain(addr, root); err != nil || n != 1 || ok {
		t.Fatalf("leaf alone: %d certificates, verifies %v, err %v", n, ok, err)
	}

	replaceFile(t, certFile, append(append([]byte{}, leaf...), inter.PEM...))
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, ok, err := servedChain(addr, root)
		if err == nil && n == 2 && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after adding the intermediate: %d certificates, verifies %v, err %v", n, ok, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestManualReloadNotYetValid: a new pair whose certificate becomes valid a moment
// later (issued by a CA whose clock runs ahead) keeps the current certificate until
// then and is served from its not_before on. It was rejected once and never looked at
// again while the files stayed the same, so the old certificate expired in service.
func TestManualReloadNotYetValid(t *testing.T) {
	shortDebounce(t)
	ca := pebbletest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1, s1 := ca.IssueNow(t, "sync.test")
	replaceFile(t, certFile, c1)
	replaceFile(t, keyFile, k1)
	logs := &pebbletest.SafeBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	setup, err := New(context.Background(), manualOptions(certFile, keyFile), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setup.Close() })
	addr := serve(t, setup)
	waitSerial(t, addr, ca, s1)

	// Certificates carry whole seconds: 3 s ahead is at least 2 s ahead.
	notBefore := time.Now().Add(3 * time.Second)
	c2, k2, s2 := ca.Issue(t, notBefore, notBefore.Add(12*time.Hour), "sync.test")
	replaceFile(t, keyFile, k2)
	replaceFile(t, certFile, c2)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "not valid") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the future certificate; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if time.Now().Before(notBefore.Truncate(time.Second).Add(-500 * time.Millisecond)) {
		if got, err := peerSerial(t, addr, ca); err != nil || got.Cmp(s1) != 0 {
			t.Fatalf("before not_before: serial %v err %v, want the current %v", got, err, s1)
		}
	}
	waitSerial(t, addr, ca, s2)
}
