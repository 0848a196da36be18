package authmw

import (
	"crypto/x509"
	"net/http"
	"net/netip"
)

// CountFailure records a failed authentication by r's client address in the
// failed-auth limiter (for endpoints that authenticate without a bearer token, such
// as POST /api/token). It returns a rate_limited error (with its Retry-After) when
// that address has no credit left, else nil.
func (m *Middleware) CountFailure(r *http.Request) error {
	if secs, limited := m.limiter.fail(limitKey(m.ClientAddrOf(r)), m.now()); limited {
		return &rateLimitedError{secs: secs}
	}
	return nil
}

// CountFailedAt records a failed authentication by the client at addr (as
// ClientAddrOf named it): for a re-authentication on a live WebSocket (a Refresh
// frame), long after the upgrade request. It returns a rate_limited error (with its
// Retry-After) when that address has no credit left, else nil.
func (m *Middleware) CountFailedAt(addr netip.Addr) error {
	if secs, limited := m.limiter.fail(limitKey(addr), m.now()); limited {
		return &rateLimitedError{secs: secs}
	}
	return nil
}

// PeerCertificate returns the client certificate r's TLS connection presented, or nil.
func PeerCertificate(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}
