package syncclient

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
)

// speaksTLS is the message for a plain http:// (or ws://) request sent to a TLS port.
const speaksTLS = "the server speaks TLS on this port: use https:// (or wss://) instead of http:// (or ws://)"

// redact returns u without its query and fragment (a query may hold something that
// must not be logged), e.g. https://host:8443/api/list.
func redact(u *url.URL) string {
	if u == nil {
		return "(no URL)"
	}
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return v.String()
}

// unreachable marks a transport error (no answer from the server): errors.Is(err,
// engine.ErrUnreachable) holds for it, and its text is the explained cause.
type unreachable struct{ err error }

func (u *unreachable) Error() string   { return u.err.Error() }
func (u *unreachable) Unwrap() []error { return []error{u.err, engine.ErrUnreachable} }

// netError is the error of a request to u that got no answer: code unavailable,
// the message naming the method and URL, the cause explained (see explain) and
// marked with engine.ErrUnreachable.
func netError(method string, u *url.URL, err error) *protocol.Error {
	return &protocol.Error{
		Code:    protocol.CodeUnavailable,
		Message: fmt.Sprintf("server unreachable: %s %s", method, redact(u)),
		Err:     &unreachable{err: explain(err)},
	}
}

// explain turns the transport errors a new user meets into advice: an untrusted
// certificate names --ca-file and SSL_CERT_FILE; http:// to a TLS port and https:// to
// a plain port say which the server speaks. A *url.Error loses its URL (the caller
// names it without the query). Other errors are returned as they are.
func explain(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("the server's certificate is not trusted (%w): give its CA certificate with --ca-file FILE (or SSL_CERT_FILE=FILE)", err)
	case errors.As(err, &host):
		return fmt.Errorf("the server's certificate does not name this host (%w): use a name it holds in --server", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("the server's certificate is not valid (%w)", err)
	case errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Errorf("the server speaks plain HTTP on this port, not TLS: use http:// (loopback only) or the server's TLS port (%w)", err)
	case strings.Contains(err.Error(), `malformed HTTP response "\x15\x03`):
		// A TLS alert record (0x15 0x03 …) read as an HTTP answer.
		return fmt.Errorf("%s (%w)", speaksTLS, err)
	}
	return err
}
