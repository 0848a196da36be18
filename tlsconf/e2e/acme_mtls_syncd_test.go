package e2e_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tlsconf/internal/pebbletest"
)

// TestSyncdACMEWithClientCerts runs syncd in acme mode (Pebble, TLS-ALPN-01 only: no
// HTTP-01 listener) with client certificates required: the order is validated on the
// listener that requires them, the ACME certificate is then served to clients that
// present a certificate of the client CA, a device bound to one redeems and uses its
// token only with that certificate, and a connection without a certificate is refused.
// Pebble validates over TLS 1.3, where a missing client certificate is refused only
// after the validator's side of the handshake is done, so the acme-tls/1 exemption
// itself (needed for TLS 1.2 validators) is checked by tlsconf's TestClientAuthNotForACME.
func TestSyncdACMEWithClientCerts(t *testing.T) {
	r := newACMERig(t)
	p, port, addr := r.p, r.port, r.addr
	clientCA := pebbletest.NewCA(t)
	certAPEM, _, certA := clientCA.IssueClient(t, "laptop")
	_, _, certB := clientCA.IssueClient(t, "other")
	caFile := filepath.Join(r.dir, "client-ca.pem")
	if err := os.WriteFile(caFile, clientCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// No HTTP-01 listener: the order can only be validated over TLS-ALPN-01 on the
	// listener that requires client certificates.
	d := r.start(t, ctx, map[string]any{"http_listen": "", "client_ca": caFile, "client_auth": "require"})
	defer d.Shutdown(context.Background())
	if _, err := d.Registry().Create(ctx, "t1", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	thumb, err := auth.ThumbprintPEM(certAPEM)
	if err != nil {
		t.Fatal(err)
	}
	bound, _, err := d.Auth().Devices().Enroll(ctx, "t1", "alice", auth.RoleWrite, "laptop", thumb)
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := d.Auth().Devices().Enroll(ctx, "t1", "bob", auth.RoleWrite, "phone", "")
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + domain + ":" + strconv.Itoa(port)
	client := func(cert *tls.Certificate) *http.Client {
		c := &tls.Config{RootCAs: p.Roots, MinVersion: tls.VersionTLS12}
		if cert != nil {
			c.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{DialContext: pebbletest.DialTo(addr), TLSClientConfig: c, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 90 * time.Second}
	}
	withA, withB := client(&certA), client(&certB)

	// The first handshake starts the order; Pebble validates over acme-tls/1 without
	// a client certificate. The answer's certificate chains to Pebble's roots.
	code, g := redeem(t, withA, base, bound)
	if code != 200 {
		t.Fatalf("bound device with its certificate over the ACME certificate: %d %v", code, g)
	}
	access, _ := g["access_token"].(string)
	if c := list(t, withA, base, access); c != 200 {
		t.Fatalf("bound token with its certificate: %d", c)
	}
	if c := list(t, withB, base, access); c != 401 {
		t.Fatalf("bound token with another certificate: %d", c)
	}
	if code, _ := redeem(t, withB, base, bound); code != 400 {
		t.Fatalf("bound device with another certificate: %d", code)
	}
	if code, _ := redeem(t, withB, base, plain); code != 200 {
		t.Fatalf("unbound device with a certificate of the client CA: %d", code)
	}
	if resp, err := client(nil).Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("require: a connection without a client certificate was accepted")
	}
}
