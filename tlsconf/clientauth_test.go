package tlsconf

import (
	"crypto/tls"
	"testing"

	"golang.org/x/crypto/acme"
)

// TestClientAuthNotForACME: acme-tls/1 handshakes get the base configuration (no
// client certificate asked); every other handshake the mutual-TLS one.
func TestClientAuthNotForACME(t *testing.T) {
	c := &clientAuth{}
	want := &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}
	c.conf.Store(want)
	if got, _ := c.configFor(&tls.ClientHelloInfo{SupportedProtos: []string{acme.ALPNProto}}); got != nil {
		t.Fatal("acme-tls/1 handshake must not ask for a client certificate")
	}
	for _, protos := range [][]string{nil, {"h2", "http/1.1"}, {acme.ALPNProto, "h2"}} {
		if got, _ := c.configFor(&tls.ClientHelloInfo{SupportedProtos: protos}); got != want {
			t.Fatalf("%v: client certificates not asked", protos)
		}
	}
}
