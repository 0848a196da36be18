package hub

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
)

// closeGrace is how long a closing connection waits for the peer's close reply before
// the socket is closed.
const closeGrace = time.Second

// opTimeout bounds one client FileOperation or one replay page read.
const opTimeout = 30 * time.Second

// conn is one WebSocket connection.
type conn struct {
	h           *Hub
	authReq     *http.Request // until authenticated: peer and X-Forwarded-For, for the failed-auth limiter
	id          string
	remote      string
	peerCert    *x509.Certificate // the TLS client certificate, nil if none (certificate-bound tokens)
	connectedAt int64             // unix nanos
	ws          *websocket.Conn
	limiter     *rate.Limiter

	principal atomic.Pointer[auth.Principal]
	// tenant and subject are fixed at authentication (Refresh keeps both).
	tenant  string
	subject string
	scope   *pathscope.Scope // the token's path scope, nil for the whole tenant; fixed like subject

	infoMu   sync.Mutex
	clientID string // set once by Subscribe, before the conn joins its tenant hub

	batch      atomic.Bool
	subscribed atomic.Bool
	space      Space      // set by Subscribe or the first FileOperation (reader only)
	th         *tenantHub // set by Subscribe (reader; read by writer after a replay item)

	// Guarded by the tenant hub's mu.
	from   int64 // live events with seq ≤ from are not sent
	subIdx int

	q          queue
	wmu        sync.Mutex // serialises socket writes: data batches, pongs, the close frame
	wdl        int64      // unix nanos of the socket's write deadline set by writeRaw; 0 = unknown (wmu)
	broken     bool       // a data write ended part-way: no frame may follow (wmu)
	dlMu       sync.Mutex // orders writeRaw's deadline before the closer's, never after
	msgsIn     atomic.Int64
	msgsOut    atomic.Int64
	lastActive atomic.Int64 // unix nanos of the last frame received
	lastPing   atomic.Int64 // unix nanos of the last ping sent
	authed     atomic.Bool
	closed     atomic.Bool // the connection is closing
	closeOnce  sync.Once
	readerDone chan struct{}  // closed when the reader ends
	wg         sync.WaitGroup // the writer and closer goroutines
}

func (h *Hub) newConn(r *http.Request, ws *websocket.Conn) *conn {
	now := time.Now()
	c := &conn{
		h:           h,
		ws:          ws,
		id:          newID(),
		remote:      h.remoteAddr(r),
		peerCert:    peerCertificate(r),
		connectedAt: now.UnixNano(),
		subIdx:      -1,
		readerDone:  make(chan struct{}),
	}
	c.q.limit, c.q.replyRoom = h.opts.SendQueue, h.opts.MessageBurst
	c.limiter = rate.NewLimiter(rate.Limit(h.opts.MessageRate), h.opts.MessageBurst)
	c.q.c = c
	c.authReq = &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: r.URL.Path},
		RemoteAddr: r.RemoteAddr,
		Header:     http.Header{"X-Forwarded-For": r.Header.Values("X-Forwarded-For")},
		TLS:        r.TLS, // the client certificate, for certificate-bound tokens
	}
	c.lastActive.Store(now.UnixNano())
	c.lastPing.Store(now.UnixNano())
	return c
}

func (c *conn) info() ConnInfo {
	c.infoMu.Lock()
	id := c.clientID
	c.infoMu.Unlock()
	ci := ConnInfo{
		ID:          c.id,
		ClientID:    id,
		RemoteAddr:  c.remote,
		ConnectedAt: time.Unix(0, c.connectedAt).UTC(),
		MessagesIn:  c.msgsIn.Load(),
		MessagesOut: c.msgsOut.Load(),
	}
	if p := c.principal.Load(); p != nil {
		ci.Tenant, ci.Subject = p.Tenant, p.Subject
	}
	return ci
}

func sortConnInfo(s []ConnInfo) {
	sort.Slice(s, func(i, j int) bool {
		if !s[i].ConnectedAt.Equal(s[j].ConnectedAt) {
			return s[i].ConnectedAt.Before(s[j].ConnectedAt)
		}
		return s[i].ID < s[j].ID
	})
}

// start runs the connection's reader goroutine (the writer starts when there is
// something to send). A connection not yet authenticated (no Authorization header)
// must send an Auth frame first.
func (c *conn) start() {
	go c.readLoop()
}

func (c *conn) setAuthenticated(p *auth.Principal) {
	c.authReq = nil
	c.tenant, c.subject, c.scope = p.Tenant, p.Subject, p.Scope
	c.principal.Store(p)
	c.authed.Store(true)
}

func (c *conn) closing() bool { return c.closed.Load() }

// close starts closing the connection: the writer stops after its current frame, a
// close frame with code (none when code is 0) is sent, and the socket is closed once
// the peer has answered or after closeGrace. It never blocks.
func (c *conn) close(code int, reason string) {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.wg.Add(1)
		go c.closer(code, reason)
	})
}

func (c *conn) closer(code int, reason string) {
	defer c.wg.Done()
	if code != 0 && c.writeCloseFrame(code, reason) {
		t := time.NewTimer(closeGrace)
		select {
		case <-c.readerDone:
		case <-t.C:
		}
		t.Stop()
	} else if code == 0 {
		c.wmu.Lock()
		if c.broken {
			cutSocket(c.ws.NetConn())
		}
		c.wmu.Unlock()
	}
	_ = c.ws.Close()
}

// writeCloseFrame writes the close frame within CloseTimeout, after the data write in
// progress (closing() keeps the writer from starting another one). That write is held
// to the same deadline: a reader too slow to take it in time (a slow consumer) is cut
// rather than waited for, and so is one that cannot take even the close frame. A cut
// connection is reset (SO_LINGER 0), so the kernel drops what it still buffered for
// it. It reports whether the frame was written.
func (c *conn) writeCloseFrame(code int, reason string) bool {
	deadline := time.Now().Add(c.h.opts.CloseTimeout)
	c.dlMu.Lock()
	_ = c.ws.NetConn().SetWriteDeadline(deadline)
	c.dlMu.Unlock()
	c.wmu.Lock()
	var err error
	if c.broken {
		err = errors.New("a data frame was cut short")
	} else {
		err = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	}
	c.wdl = 0
	if err != nil {
		cutSocket(c.ws.NetConn())
	}
	c.wmu.Unlock()
	if err != nil {
		c.h.log.Info("close frame not sent in time: connection cut", "conn", c.id, "code", code, "err", err)
		return false
	}
	return true
}

// abort closes the socket at once (Shutdown past its deadline).
func (c *conn) abort() {
	c.close(0, "")
	_ = c.ws.Close()
}

// housekeep is called by the sweeper: token expiry and validity, ping, idle timeout.
func (c *conn) housekeep(now time.Time) {
	c.q.sweep()
	if c.closing() {
		return
	}
	if c.authed.Load() {
		p := c.principal.Load()
		if !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt) {
			c.close(protocol.CloseTokenExpired, "token expired")
			return
		}
		switch err := c.h.auth.Check(context.Background(), p); {
		case err == nil:
		case protocol.CodeOf(err) == protocol.CodeInternal:
			// A failing store is not a revocation: keep the socket, check again.
			c.h.log.Warn("token check failed", "conn", c.id, "err", err)
		case errors.Is(err, auth.ErrTokenExpired):
			c.close(protocol.CloseTokenExpired, "token expired")
			return
		default:
			c.close(protocol.CloseTokenRevoked, "token no longer valid")
			return
		}
		if !c.subscribed.Load() && now.Sub(time.Unix(0, c.lastActive.Load())) >= c.h.opts.IdleTimeout {
			c.close(websocket.CloseNormalClosure, "idle")
			return
		}
	}
	if now.Sub(time.Unix(0, c.lastPing.Load())) >= c.h.opts.PingInterval {
		c.lastPing.Store(now.UnixNano())
		c.q.pingDue()
	}
}

// send queues a reply; on overflow the connection is closed with 4008.
func (c *conn) send(data []byte) {
	if !c.q.pushReply(outItem{data: data}) {
		c.h.metrics.SlowConsumerClosed()
		c.close(protocol.CloseSlowConsumer, "slow consumer")
	}
}

func (c *conn) sendError(err error, opID string) {
	code := protocol.CodeOf(err)
	msg := "internal error"
	var pe *protocol.Error
	if errors.As(err, &pe) && code != protocol.CodeInternal {
		msg = pe.Message
	} else if code == protocol.CodeInternal {
		c.h.log.Error("ws operation failed", "conn", c.id, "tenant", c.tenant, "err", err)
	}
	c.send(encodeError(code, msg, opID))
}
