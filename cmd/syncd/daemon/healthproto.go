package daemon

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/syncspace/syncspace/tlsconf"
)

// healthTimeout bounds one connection of the health probe's protocol.
const healthTimeout = 5 * time.Second

// withHealthProto makes s (the main listener's server) answer connections that
// negotiated tlsconf.HealthALPN: `syncd -healthcheck`'s probe, which has no client
// certificate, and so with tls.client_auth "require" could not reach /readyz
// otherwise. Such a connection gets GET or HEAD /readyz answered by h (the main
// handler) and 404 for anything else; keep-alives off. HTTP/2 and HTTP/1.1 stay as
// they were: Protocols is set, since a TLSNextProto map alone would turn HTTP/2 off,
// and it keeps HTTP/2 off under GODEBUG=http2server=0, which it would otherwise
// override (offering h2 with no server for it).
func withHealthProto(s *http.Server, h http.Handler) {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(!strings.Contains(os.Getenv("GODEBUG"), "http2server=0"))
	s.Protocols = &p
	s.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		tlsconf.HealthALPN: func(_ *http.Server, c *tls.Conn, _ http.Handler) { serveHealth(c, h) },
	}
}

// readyzOnly answers GET and HEAD /readyz with h, anything else 404.
func readyzOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveHealth serves one request on c with readyzOnly(h) and returns when c is closed
// (net/http closes it once this returns). c is handed over as a plain net.Conn, so
// that the inner server reads HTTP/1.1 instead of looking up c's negotiated protocol.
func serveHealth(c *tls.Conn, h http.Handler) {
	_ = c.SetDeadline(time.Now().Add(healthTimeout))
	conn := &closedConn{Conn: c, done: make(chan struct{})}
	srv := &http.Server{
		Handler:           readyzOnly(h),
		ReadHeaderTimeout: healthTimeout,
		MaxHeaderBytes:    8 << 10,
	}
	srv.SetKeepAlivesEnabled(false)
	go func() { _ = srv.Serve(&oneConn{conn: conn}) }()
	<-conn.done
}

// closedConn is a net.Conn whose done channel closes with it.
type closedConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *closedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// oneConn is a listener accepting conn once; further Accepts wait until conn is
// closed, then fail, which ends the server's Serve.
type oneConn struct {
	conn *closedConn
	mu   sync.Mutex
	used bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	l.mu.Lock()
	used := l.used
	l.used = true
	l.mu.Unlock()
	if !used {
		return l.conn, nil
	}
	<-l.conn.done
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.conn.LocalAddr() }
