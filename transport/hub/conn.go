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

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
)

// closeGrace is how long a closing connection waits for the peer's close reply before
// the socket is closed.
const closeGrace = time.Second

// opTimeout bounds one client FileOperation or one replay page read.
const opTimeout = 30 * time.Second

// conn is one WebSocket connection. Every idle socket holds one, so its fields are
// ordered to pack (see docs/BENCHMARKS.md, idle connection memory): keep small fields
// together when adding one.
type conn struct {
	h           *Hub
	ws          *websocket.Conn
	authReq     *http.Request     // until authenticated: peer and X-Forwarded-For, for the failed-auth limiter
	peerCert    *x509.Certificate // the TLS client certificate, nil if none (certificate-bound tokens)
	remote      string
	connectedAt int64 // unix nanos
	id          connID
	subIdx      int32 // in the tenant hub's live set, -1 if not there (guarded by its mu)

	// principal is shared by the sockets of one token (Hub.sharePrincipal). Its
	// tenant and subject are fixed at authentication (Refresh keeps both).
	principal atomic.Pointer[auth.Principal]
	scope     *pathscope.Scope // the token's path scope, nil for the whole tenant; fixed like the tenant

	infoMu     sync.Mutex    // clientID, readerDone and readerEnd
	clientID   string        // set once by Subscribe, before the conn joins its tenant hub
	readerDone chan struct{} // closed when the reader ends; made on demand (readerEndedChan)

	space Space      // set by Subscribe or the first FileOperation (reader only)
	th    *tenantHub // set by Subscribe (reader; read by writer after a replay item)

	from int64 // live events with seq ≤ from are not sent (guarded by the tenant hub's mu)

	q          queue
	wmu        sync.Mutex // serialises socket writes: data batches, pongs, the close frame
	dlMu       sync.Mutex // orders writeRaw's deadline before the closer's, never after
	wdl        int64      // unix nanos of the socket's write deadline set by writeRaw; 0 = unknown (wmu)
	msgsIn     atomic.Int64
	msgsOut    atomic.Int64
	lastActive atomic.Int64 // unix nanos of the last frame received
	inbound    msgBucket    // the inbound message rate (reader only)
	batch      atomic.Bool
	subscribed atomic.Bool
	authed     atomic.Bool
	closed     atomic.Bool // the connection is closing
	closeOnce  sync.Once
	broken     bool           // a data write ended part-way: no frame may follow (wmu)
	readerEnd  bool           // the reader has ended (infoMu)
	wg         sync.WaitGroup // the writer and closer goroutines
}

// newConn builds the connection of an upgraded request; p is the principal of the
// upgrade's Authorization header, nil when the client is to send an Auth frame.
func (h *Hub) newConn(r *http.Request, ws *websocket.Conn, p *auth.Principal) *conn {
	now := time.Now()
	c := &conn{
		h:           h,
		ws:          ws,
		id:          newID(),
		remote:      h.remoteAddr(r),
		peerCert:    peerCertificate(r),
		connectedAt: now.UnixNano(),
		subIdx:      -1,
	}
	c.q.c = c
	if p == nil {
		c.authReq = &http.Request{
			Method:     http.MethodGet,
			URL:        &url.URL{Path: r.URL.Path},
			RemoteAddr: r.RemoteAddr,
			Header:     http.Header{"X-Forwarded-For": r.Header.Values("X-Forwarded-For")},
			TLS:        r.TLS, // the client certificate, for certificate-bound tokens
		}
	}
	c.lastActive.Store(now.UnixNano())
	return c
}

// tenant is the authenticated connection's tenant ("" before authentication).
func (c *conn) tenant() string {
	if p := c.principal.Load(); p != nil {
		return p.Tenant
	}
	return ""
}

func (c *conn) info() ConnInfo {
	c.infoMu.Lock()
	id := c.clientID
	c.infoMu.Unlock()
	ci := ConnInfo{
		ID:          c.id.String(),
		ClientID:    id,
		RemoteAddr:  c.remote,
		ConnectedAt: time.Unix(0, c.connectedAt).UTC(),
		MessagesIn:  c.msgsIn.Load(),
		MessagesOut: c.msgsOut.Load(),
		NodeID:      c.h.opts.NodeID,
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

// setAuthenticated makes p, already counted by register or authenticated (which
// may have swapped it for the equal principal the token's other sockets share), the
// connection's principal.
func (c *conn) setAuthenticated(p *auth.Principal) {
	c.authReq = nil
	c.scope = p.Scope
	c.principal.Store(p)
	c.authed.Store(true)
}

// readerEndedChan returns a channel closed once the reader has ended. It is made on
// demand (only a closer that sent a close frame waits for the reader), so that an
// idle connection holds none.
func (c *conn) readerEndedChan() <-chan struct{} {
	c.infoMu.Lock()
	defer c.infoMu.Unlock()
	if c.readerDone == nil {
		c.readerDone = make(chan struct{})
		if c.readerEnd {
			close(c.readerDone)
		}
	}
	return c.readerDone
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
		case <-c.readerEndedChan():
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
		c.h.log.Info("close frame not sent in time: connection cut", "conn", c.id.String(), "code", code, "err", err)
		return false
	}
	return true
}

// abort closes the socket at once (Shutdown past its deadline).
func (c *conn) abort() {
	c.close(0, "")
	_ = c.ws.Close()
}

// housekeep is called by the sweeper (prev is its previous round, or its start):
// token expiry and validity, ping, idle timeout.
func (c *conn) housekeep(prev, now time.Time) {
	c.q.sweep()
	if c.closing() {
		return
	}
	if c.authed.Load() {
		if !checkToken(c, now) {
			return
		}
		if !c.subscribed.Load() && now.Sub(time.Unix(0, c.lastActive.Load())) >= c.h.opts.IdleTimeout {
			c.close(websocket.CloseNormalClosure, "idle")
			return
		}
	}
	if pingDue(c.connectedAt, prev.UnixNano(), now.UnixNano(), c.h.opts.PingInterval) {
		c.q.pingDue()
	}
}

// checkToken reports whether c's token is still valid at now (expiry,
// revocation, key retirement, tenant deletion); if not, the connection is closed with
// 4004 or 4005. The sweeper calls it every CheckInterval, and the reader before it
// acts for the token (Subscribe, FileOperation), as HTTP checks every request. A
// failing store is not a revocation: the token is taken as valid, and checked again.
func checkToken(c *conn, now time.Time) bool {
	p := c.principal.Load()
	if !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt) {
		c.close(protocol.CloseTokenExpired, "token expired")
		return false
	}
	switch err := c.h.auth.Check(context.Background(), p); {
	case err == nil:
	case protocol.CodeOf(err) == protocol.CodeInternal:
		c.h.log.Warn("token check failed", "conn", c.id.String(), "err", err)
	case errors.Is(err, auth.ErrTokenExpired):
		c.close(protocol.CloseTokenExpired, "token expired")
		return false
	default:
		c.close(protocol.CloseTokenRevoked, "token no longer valid")
		return false
	}
	return true
}

// pingDue reports whether a connection made at connected (unix nanos, like prev and
// now) is due a WebSocket ping in the sweep at now, the previous sweep having run at
// prev: a connection is pinged every interval from its start, in the first sweep at or
// after each multiple. Derived from the connection's start, it needs no per-socket
// record of the last ping.
func pingDue(connected, prev, now int64, interval time.Duration) bool {
	n := int64(interval)
	return (now-connected)/n > max(prev-connected, 0)/n
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
		c.h.log.Error("ws operation failed", "conn", c.id.String(), "tenant", c.tenant(), "err", err)
	}
	c.send(encodeError(code, msg, opID))
}
