package hub

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"
	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/metrics"
)

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
	ws.SetPongHandler(c.onPong)
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
		if !c.inbound.allow(c.h.opts.MessageRate, c.h.opts.MessageBurst) {
			c.close(protocol.ClosePolicyViolation, "too many messages")
			continue
		}
		c.handle(data)
	}
}

// onPong is the WebSocket pong handler: the peer is alive, extend the read deadline.
func (c *conn) onPong(string) error {
	return c.ws.SetReadDeadline(time.Now().Add(c.h.opts.PongTimeout))
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
	if !c.h.authenticated(c, p) {
		c.close(protocol.ClosePolicyViolation, "too many connections for this token")
		c.drain()
		return false
	}
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
	c.infoMu.Lock()
	c.readerEnd = true // a closer waiting for the reader (readerEndedChan) goes on
	if c.readerDone != nil {
		close(c.readerDone)
	}
	c.infoMu.Unlock()
	c.close(0, "")
	c.q.stop()
	c.wg.Wait()
	if c.th != nil {
		c.th.leave(c)
		c.h.releaseTenant(c.th)
	}
	c.h.unregister(c)
}
