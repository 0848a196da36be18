package hub

import (
	"crypto/x509"
	"net/http"
)

// peerCertificate is the TLS client certificate r's connection presented, or nil: a
// certificate-bound token (cnf x5t#S256) is accepted on /ws only with it.
func peerCertificate(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}
