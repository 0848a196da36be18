package hub

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/metrics"
)

// closeGrace is how long a closing connection waits for the peer's close reply before
// the socket is closed.
const closeGrace = time.Second

// opTimeout bounds one client FileOperation or one replay page read.
const opTimeout = 30 * time.Second

// outItem is one entry of a send queue: an encoded message, or a replay to run at
// that point of the stream. A broadcast event is queued as a complete text frame
// (data starts with hdr bytes of frame header, see prepareFrame), shared by every
// subscriber; replies carry only the JSON (hdr 0).
type outItem struct {
	data   []byte
	hdr    int
	replay *replayReq
}

// payload is the item's JSON message.
func (it *outItem) payload() []byte { return it.data[it.hdr:] }

type replayReq struct {
	since int64
	epoch string
}

// queue is a connection's bounded send queue. Its slice grows only while messages
// wait, so an idle connection holds no buffer. It also owns the writer goroutine's
// life: push starts the writer when there is something to send and none runs; the
// writer parks when the queue is empty and ends once the sweeper finds it parked for
// a whole CheckInterval, so an idle connection parks no writer goroutine (there is
// never more than one) while a busy one does not start a goroutine per message.
type queue struct {
	mu    sync.Mutex
	items []outItem
	limit int
	// replyRoom is how far replies may go beyond limit (one inbound burst).
	replyRoom int
	ping      bool          // a WebSocket ping is due
	running   bool          // the writer goroutine runs
	stopped   bool          // the connection is torn down: no more writers
	parked    bool          // the writer waits on wake for more
	active    bool          // the writer took something since the last sweep
	expire    bool          // the parked writer is to end
	wake      chan struct{} // while a writer runs (from wakePool); cap 1
	c         *conn
}

// wakePool recycles the writers' wake channels, so that only connections with a
// writer hold one.
var wakePool = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

// push appends an event (or replay request), or reports false when the queue already
// holds limit items.
func (q *queue) push(it outItem) bool { return q.pushUpTo(it, q.limit) }

// pushReply appends a reply to the client's own message (Pong, Ack, Error). Replies
// have room beyond limit for one inbound burst: a client that pings quickly is not a
// slow consumer, but one that never reads still overflows.
func (q *queue) pushReply(it outItem) bool { return q.pushUpTo(it, q.limit+q.replyRoom) }

func (q *queue) pushUpTo(it outItem, max int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= max {
		return false
	}
	if q.stopped {
		return true // dropped: the connection is gone
	}
	q.items = append(q.items, it)
	q.startLocked()
	return true
}

// wakeLocked wakes the parked writer.
func (q *queue) wakeLocked() {
	if q.parked {
		q.parked = false
		q.wake <- struct{}{}
	}
}

// sweep is called every CheckInterval: a writer that has been parked since the
// previous sweep without taking anything ends, so that a connection keeps its writer
// goroutine only while messages flow (at most two sweeps after the last one).
func (q *queue) sweep() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.parked && !q.active {
		q.expire = true
		q.wakeLocked()
	}
	q.active = false
}

// pingDue asks the writer to send a WebSocket ping.
func (q *queue) pingDue() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	q.ping = true
	q.startLocked()
}

func (q *queue) startLocked() {
	if !q.running {
		q.running = true
		q.wake = wakePool.Get().(chan struct{})
		q.c.wg.Add(1)
		go q.c.writeLoop()
		return
	}
	q.wakeLocked()
}

// take moves every queued item into the result, leaving spare as the new empty
// queue, and reports whether a ping is due. With nothing to do it parks the writer
// until something is pushed; when the queue is stopped, or the sweeper found the
// writer parked for a whole period, it marks the writer stopped and returns ok
// false: the writer must then return.
func (q *queue) take(spare []outItem) (items []outItem, ping, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.stopped || q.expire && len(q.items) == 0 && !q.ping {
			q.running, q.expire, q.parked = false, false, false
			wakePool.Put(q.wake) // empty: a token is sent only to a parked writer, which takes it
			q.wake = nil
			return nil, false, false
		}
		if len(q.items) > 0 || q.ping {
			q.expire, q.active = false, true
			items, ping = q.items, q.ping
			q.items, q.ping = spare[:0], false
			return items, ping, true
		}
		q.parked = true
		w := q.wake
		q.mu.Unlock()
		<-w
		q.mu.Lock()
	}
}

// stop forbids new writers; teardown then waits for the running one.
func (q *queue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.items = nil
	q.wakeLocked()
	q.mu.Unlock()
}

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
	c.tenant, c.subject = p.Tenant, p.Subject
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

// readLoop is the connection's only reader. It also tears the connection down when it
// ends: the socket is closed then, and it waits for the writer and the closer.
func (c *conn) readLoop() {
	defer c.teardown()
	ws := c.ws
	ws.SetPingHandler(c.onPing)
	if !c.authed.Load() {
		if !c.authenticate() {
			return
		}
	}
	ws.SetReadLimit(c.h.opts.MaxFrame)
	_ = ws.SetReadDeadline(time.Now().Add(c.h.opts.PongTimeout))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(c.h.opts.PongTimeout))
	})
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.closing() {
			continue // drain until the peer's close reply
		}
		now := time.Now()
		c.lastActive.Store(now.UnixNano())
		_ = ws.SetReadDeadline(now.Add(c.h.opts.PongTimeout))
		c.msgsIn.Add(1)
		if mt != websocket.TextMessage {
			c.close(protocol.ClosePolicyViolation, "binary frames are not allowed")
			continue
		}
		if !c.limiter.Allow() {
			c.close(protocol.ClosePolicyViolation, "too many messages")
			continue
		}
		c.handle(data)
	}
}

// readFailed closes the connection after a read error.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		c.close(0, "") // gorilla has sent 1009
	case errors.As(err, &ne) && ne.Timeout():
		c.close(websocket.ClosePolicyViolation, "no pong") // 1001 is reserved for shutdown
	default:
		c.close(0, "")
	}
}

// authenticate waits for the Auth frame (AuthTimeout, 8 KiB) and closes with 4001
// unless it carries a valid tenant token (4003 for a valid ops token).
func (c *conn) authenticate() bool {
	ws := c.ws
	ws.SetReadLimit(protocol.MaxFramePreAuth)
	_ = ws.SetReadDeadline(time.Now().Add(c.h.opts.AuthTimeout))
	mt, data, err := ws.ReadMessage()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.h.metrics.AuthFailed(metrics.TransportWS)
			c.close(protocol.CloseUnauthenticated, "authentication timeout")
		} else {
			c.readFailed(err)
		}
		return false
	}
	c.msgsIn.Add(1)
	failWith := func(code int, reason string) bool {
		c.h.metrics.AuthFailed(metrics.TransportWS)
		c.close(code, reason)
		c.drain()
		return false
	}
	fail := func(reason string) bool { return failWith(protocol.CloseUnauthenticated, reason) }
	if mt != websocket.TextMessage {
		return fail("authentication required")
	}
	m, err := DecodeClientMessage(data)
	if err != nil || m.Type != protocol.TypeAuth {
		return fail("authentication required")
	}
	p, err := c.verifyAuthFrame(m.Token)
	if protocol.CodeOf(err) == protocol.CodeForbidden {
		return failWith(protocol.CloseForbidden, refuseReason(protocol.CloseForbidden))
	}
	if err != nil || p == nil || p.Kind == auth.KindOps || p.Tenant == "" {
		return fail("invalid token")
	}
	if !c.h.authenticated(p) {
		c.close(protocol.ClosePolicyViolation, "too many connections for this token")
		c.drain()
		return false
	}
	c.setAuthenticated(p)
	c.lastActive.Store(time.Now().UnixNano())
	return true
}

// verifyAuthFrame verifies an Auth frame's token through the upgrade authenticator,
// so that failures count against the client address like failed HTTP
// authentications (and a limited address is refused), or with the Verifier alone.
func (c *conn) verifyAuthFrame(token string) (*auth.Principal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	r := c.authReq
	c.authReq = nil
	if c.h.upgrade == nil || r == nil {
		return c.h.auth.Verify(ctx, token, auth.AudienceTenant)
	}
	r = r.WithContext(ctx)
	r.Header.Set("Authorization", "Bearer "+token)
	return c.h.upgrade.Authenticate(ctx, r, auth.AudienceTenant)
}

// drain reads until the peer's close reply or an error (for closes initiated here).
func (c *conn) drain() {
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace + c.h.opts.WriteTimeout))
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			return
		}
	}
}

// teardown runs once, when the reader ends.
func (c *conn) teardown() {
	close(c.readerDone)
	c.close(0, "")
	c.q.stop()
	c.wg.Wait()
	if c.th != nil {
		c.th.leave(c)
		c.h.releaseTenant(c.th)
	}
	c.h.unregister(c)
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

// handle processes one authenticated text message.
func (c *conn) handle(data []byte) {
	m, err := DecodeClientMessage(data)
	if err != nil {
		c.sendError(err, m.OperationID)
		return
	}
	switch m.Type {
	case protocol.TypePing:
		c.send(pongFrame)
	case protocol.TypeAuth:
		c.sendError(protocol.Errorf(protocol.CodeBadRequest, "already authenticated"), m.OperationID)
	case protocol.TypeRefresh:
		c.refresh(m)
	case protocol.TypeSubscribe:
		c.subscribe(m)
	case protocol.TypeFileOperation:
		c.fileOperation(m)
	}
}

func (c *conn) refresh(m protocol.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cur := c.principal.Load()
	p, err := c.h.auth.Verify(ctx, m.Token, auth.AudienceTenant)
	if err == nil && p != nil && !p.CertMatches(c.peerCert) {
		err = auth.ErrTokenInvalid // bound to a certificate this connection did not present
	}
	if err != nil || p == nil {
		c.h.metrics.AuthFailed(metrics.TransportWS)
		c.sendError(protocol.Errorf(protocol.CodeUnauthenticated, "refresh token is not valid"), m.OperationID)
		return
	}
	if p.Tenant != cur.Tenant || p.TenantID != cur.TenantID || p.Subject != cur.Subject {
		c.sendError(protocol.Errorf(protocol.CodeForbidden, "refresh token must be for the same tenant and subject"), m.OperationID)
		return
	}
	if !p.ExpiresAt.After(cur.ExpiresAt) {
		c.sendError(protocol.Errorf(protocol.CodeBadRequest, "refresh token must expire later than the current one"), m.OperationID)
		return
	}
	if !c.h.refreshed(c, p) {
		c.sendError(protocol.Errorf(protocol.CodeRateLimited, "too many WebSocket connections for the new token"), m.OperationID)
		return
	}
	opID := m.OperationID
	if opID == "" {
		opID = "refresh"
	}
	c.send(encodeAck(opID, nil, ""))
}

// openSpace returns the tenant's space, opening it on first use.
func (c *conn) openSpace() (Space, error) {
	if c.space != nil {
		return c.space, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	sp, err := c.h.reg.OpenSpace(ctx, c.tenant)
	if err != nil {
		return nil, err
	}
	c.space = sp
	return sp, nil
}

func (c *conn) subscribe(m protocol.Message) {
	if c.subscribed.Load() {
		c.sendError(protocol.Errorf(protocol.CodeBadRequest, "already subscribed"), m.OperationID)
		return
	}
	sp, err := c.openSpace()
	if err != nil {
		c.sendError(err, protocol.SubscribeOperationID)
		return
	}
	c.infoMu.Lock()
	c.clientID = m.ClientID
	c.infoMu.Unlock()
	c.batch.Store(m.Batch)
	c.subscribed.Store(true)
	c.th = c.h.acquireTenant(c.tenant)
	c.th.subscribe(c, sp, m.Since, m.Epoch)
}

// writeLoop is the connection's only data writer. It runs while messages flow (see
// queue).
func (c *conn) writeLoop() {
	defer c.wg.Done()
	var spare []outItem
	for {
		items, ping, ok := c.q.take(spare)
		if !ok {
			return
		}
		if c.closing() {
			continue // take again: stops the writer once the queue is stopped or empty
		}
		err := c.writeItems(items, ping)
		clear(items)
		if cap(items) > 256 {
			items = nil
		}
		spare = items[:0]
		if err != nil && !c.closing() {
			c.close(0, "")
		}
	}
}

// writeItems writes everything taken from the queue (and a ping first when one is
// due) with as few socket writes as possible.
func (c *conn) writeItems(items []outItem, ping bool) error {
	fw := newFrameWriter(c)
	defer fw.release()
	if ping {
		fw.ping()
	}
	for i := range items {
		it := &items[i]
		if it.replay != nil {
			if err := fw.flush(); err != nil {
				return err
			}
			if err := c.runReplay(fw, it.replay); err != nil {
				return err
			}
			continue
		}
		if err := fw.add(it); err != nil {
			return err
		}
	}
	return fw.flush()
}

// writeRaw writes b, whole frames holding n messages, to the socket in one write
// with one write deadline. It refuses once the connection is closing, so that
// nothing follows the close frame.
func (c *conn) writeRaw(b []byte, n int) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	nc := c.ws.NetConn()
	c.dlMu.Lock()
	if c.closing() {
		c.dlMu.Unlock()
		return errClosing
	}
	// Setting a deadline costs a runtime timer update: while the one set before is
	// still at least 90% of WriteTimeout away, it stays.
	now := time.Now().UnixNano()
	if to := int64(c.h.opts.WriteTimeout); c.wdl-now < to-to/10 {
		c.wdl = now + to
		_ = nc.SetWriteDeadline(time.Unix(0, c.wdl))
	}
	c.dlMu.Unlock()
	if n, err := nc.Write(b); err != nil {
		c.broken = c.broken || n > 0
		return err
	}
	c.msgsOut.Add(int64(n))
	return nil
}

// onPing answers a client's WebSocket ping (gorilla's reader calls it) in turn with
// the writer's socket writes.
func (c *conn) onPing(msg string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing() {
		return nil
	}
	err := c.ws.WriteControl(websocket.PongMessage, []byte(msg), time.Now().Add(c.h.opts.WriteTimeout))
	c.wdl = 0 // WriteControl set its own deadline
	var ne net.Error
	if err == nil || errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return err
}

// runReplay sends the retained events after r.since straight from the store, paced
// by the socket, then makes the connection live in its tenant hub exactly after the
// last event sent. If the store no longer holds them it sends ResyncRequired and the
// connection goes live after the head.
func (c *conn) runReplay(fw *frameWriter, r *replayReq) error {
	since := r.since
	sp, th := c.space, c.th
	for {
		if c.closing() {
			return errClosing
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		page, err := sp.Changes(ctx, since, r.epoch, protocol.MaxChangesLimit)
		cancel()
		if err != nil {
			if protocol.CodeOf(err) == protocol.CodeResyncRequired {
				epoch, head := th.goLiveHead(c, sp)
				if err := fw.add(&outItem{data: encodeResync(head, epoch)}); err != nil {
					return err
				}
				return fw.flush()
			}
			if c.closing() {
				return errClosing
			}
			c.h.log.Error("replay failed", "conn", c.id, "tenant", c.tenant, "err", err)
			c.close(websocket.CloseInternalServerErr, "internal error")
			return errClosing
		}
		for i := range page.Events {
			ev := &page.Events[i]
			if ev.Seq <= since {
				continue
			}
			data, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if err := fw.add(&outItem{data: data}); err != nil {
				return err
			}
			since = ev.Seq
		}
		if err := fw.flush(); err != nil {
			return err
		}
		if page.More {
			continue
		}
		if th.goLive(c, since) {
			return nil
		}
		if len(page.Events) == 0 {
			// The hub has seen a later commit than the store showed us: let it land.
			time.Sleep(5 * time.Millisecond)
		}
	}
}
