package guard

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Limiter counts open connections across every listener it wraps: at most Max in all,
// and at most PerIP from one peer address unless the peer is in Exempt (trusted
// proxies, which carry many clients' connections: behind them the per-address cap is
// not applied, not even to the forwarded client, which the listener cannot see before
// it accepts; the global cap still counts them). A connection over a cap is refused at
// once: Refuse writes `503` with `Retry-After: 1` and `Connection: close` on it and
// closes it, in a goroutine of its own, never blocking Accept.
type Limiter struct {
	max, perIP int
	exempt     []netip.Prefix

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int

	refusing atomic.Int64 // refusals in flight
	refused  atomic.Int64 // refusals since start
}

// LimiterOptions configure NewLimiter. Max and PerIP ≤ 0 mean no cap of that kind.
type LimiterOptions struct {
	Max, PerIP int
	Exempt     []netip.Prefix
}

// NewLimiter returns a Limiter with the given caps.
func NewLimiter(o LimiterOptions) *Limiter {
	return &Limiter{max: o.Max, perIP: o.PerIP, exempt: o.Exempt, byIP: map[netip.Addr]int{}}
}

// Open returns the number of connections counted now.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Refused returns how many connections were refused since start.
func (l *Limiter) Refused() int64 { return l.refused.Load() }

// maxRefusing bounds the refusals being written at once; beyond it an excess
// connection is closed without an answer (a flood cannot make refusals pile up).
const maxRefusing = 256

// refuseTimeout bounds writing a refusal (and, for TLS, its handshake) and the linger
// that lets the client read it before the close.
const refuseTimeout = 2 * time.Second

// Wrap returns ln with the caps applied. tlsConfig, when set, is the configuration
// the caller will serve TLS with on ln: refusals are then sent inside a TLS session
// (HTTP/1.1 only), since a TLS client cannot read a plain-text answer.
func (l *Limiter) Wrap(ln net.Listener, tlsConfig *tls.Config) net.Listener {
	var rcfg *tls.Config
	if tlsConfig != nil {
		rcfg = tlsConfig.Clone()
		rcfg.NextProtos = []string{"http/1.1"}
	}
	return &limitListener{Listener: ln, l: l, tls: rcfg}
}

// acquire counts a connection from addr; false means a cap is reached.
func (l *Limiter) acquire(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return false
	}
	if l.perIP > 0 && addr.IsValid() && !l.isExempt(addr) {
		if l.byIP[addr] >= l.perIP {
			return false
		}
		l.byIP[addr]++
	}
	l.total++
	return true
}

func (l *Limiter) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP > 0 && addr.IsValid() && !l.isExempt(addr) {
		if l.byIP[addr]--; l.byIP[addr] <= 0 {
			delete(l.byIP, addr)
		}
	}
}

func (l *Limiter) isExempt(a netip.Addr) bool {
	for _, p := range l.exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the IP of c's remote end (unmapped), invalid if it has none.
func peerAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

type limitListener struct {
	net.Listener
	l   *Limiter
	tls *tls.Config
}

func (ln *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerAddr(c)
		if ln.l.acquire(addr) {
			return &limitConn{Conn: c, l: ln.l, addr: addr}, nil
		}
		ln.l.refused.Add(1)
		if ln.l.refusing.Add(1) > maxRefusing {
			ln.l.refusing.Add(-1)
			_ = c.Close()
			continue
		}
		go func() {
			defer ln.l.refusing.Add(-1)
			refuse(c, ln.tls)
		}()
	}
}

// refusal is the raw answer to a connection over a cap.
var refusal = func() []byte {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{
		"code": string(protocol.CodeUnavailable), "message": "too many connections, retry later"}})
	body = append(body, '\n')
	return []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n" +
		"Content-Type: application/json\r\n" +
		"Cache-Control: no-store\r\n" +
		"X-Content-Type-Options: nosniff\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}()

// refuse answers the request on c with the 503 and closes c. It first reads the
// request head (up to 8 KiB, within refuseTimeout): an answer that arrives before the
// client has sent its request is dropped by clients as unsolicited. After the answer
// it shuts its write side and lingers briefly reading what the client still sends, so
// that closing with unread data does not reset the connection before the client has
// read the answer.
func refuse(c net.Conn, cfg *tls.Config) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseTimeout))
	var rw io.ReadWriter = c
	var tc *tls.Conn
	if cfg != nil {
		tc = tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		rw = tc
	}
	head := make([]byte, 0, 8<<10)
	for len(head) < cap(head) && !bytes.Contains(head, []byte("\r\n\r\n")) {
		n, err := rw.Read(head[len(head):cap(head)])
		head = head[:len(head)+n]
		if err != nil {
			break
		}
	}
	if _, err := rw.Write(refusal); err != nil {
		return
	}
	if tc != nil {
		_ = tc.CloseWrite()
	} else if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(refuseTimeout / 4))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// limitConn releases its count once, on the first Close.
type limitConn struct {
	net.Conn
	l      *Limiter
	addr   netip.Addr
	once   sync.Once
	linger atomic.Bool // an answer went out over an unread request body
}

// lingerTime and lingerBytes bound the graceful close of a connection whose request
// body was left unread (net/http waits 500 ms in the same case, "rstAvoidanceDelay").
// The byte bound is what a client streaming over loopback sends while its reader is
// not scheduled: at 4 MiB a CPU-starved client (two cores under -race) lost the
// answer to the reset in reliability's TestAbuse/huge-upload.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 16 << 20
)

// Close closes the connection. When an answer was sent over an unread request body,
// it first shuts the write side and reads (and drops) what the client still sends for
// at most lingerTime: closing with unread data would reset the connection, and the
// client could lose the answer before reading it.
func (c *limitConn) Close() error {
	if c.linger.Swap(false) {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
			_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, lingerBytes))
		}
	}
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

// connKey is the context key of a request's *limitConn.
type connKey struct{}

// ConnContext is for http.Server.ConnContext: it records the limiter's connection
// in the context of every request it carries, so that Middleware can ask for a
// graceful close when it leaves a request body unread.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// markLinger asks for a graceful close of ctx's connection (see limitConn.Close).
func markLinger(ctx context.Context) {
	if lc, ok := ctx.Value(connKey{}).(*limitConn); ok {
		lc.linger.Store(true)
	}
}

// CloseWrite keeps half-close available to net/http (it shuts the write side of a
// connection it closes, to let the client read the last answer).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("guard: connection has no CloseWrite")
}

// ReadFrom keeps the connection's io.ReaderFrom (sendfile for file downloads).
func (c *limitConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// NetConn returns the connection under the count, so that code tuning the socket
// (the hub's send-buffer bound and reset on a stuck slow consumer) finds it through
// this wrapper, as it does through *tls.Conn.
func (c *limitConn) NetConn() net.Conn { return c.Conn }
