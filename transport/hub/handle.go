package hub

import (
	"context"
	"net/netip"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/metrics"
)

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
		if checkToken(c, time.Now()) {
			c.subscribe(m)
		}
	case protocol.TypeFileOperation:
		if checkToken(c, time.Now()) {
			c.fileOperation(m)
		}
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
		var refusal error = protocol.Errorf(protocol.CodeUnauthenticated, "refresh token is not valid")
		if protocol.CodeOf(err) == protocol.CodeUnauthenticated {
			if lerr := countFailure(c.h.upgrade, c.remote); lerr != nil {
				refusal = lerr
			}
		}
		c.sendError(refusal, m.OperationID)
		return
	}
	if p.Tenant != cur.Tenant || p.TenantID != cur.TenantID || p.Subject != cur.Subject || !pathscope.Equal(p.Scope, cur.Scope) {
		c.sendError(protocol.Errorf(protocol.CodeForbidden, "refresh token must be for the same tenant, subject and paths"), m.OperationID)
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

// countFailure counts a failed Refresh against a connection's client address (remote,
// as ConnInfo names it) in up's failed-auth limiter, as a failed HTTP authentication
// is (SPEC §2); it returns the limiter's rate_limited error when the address has no
// credit left. Without a limiter (a hub with no UpgradeAuthenticator) it counts nothing.
func countFailure(up UpgradeAuthenticator, remote string) error {
	fc, ok := up.(failureCounter)
	if !ok {
		return nil
	}
	addr, err := netip.ParseAddr(remote)
	if err != nil {
		ap, perr := netip.ParseAddrPort(remote)
		if perr != nil {
			return nil
		}
		addr = ap.Addr()
	}
	return fc.CountFailedAt(addr)
}

// openSpace returns the tenant's space, opening it on first use.
func (c *conn) openSpace() (Space, error) {
	if c.space != nil {
		return c.space, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p := c.principal.Load()
	sp, err := c.h.reg.OpenSpace(ctx, p.Tenant)
	if protocol.CodeOf(err) == protocol.CodeNotFound {
		return nil, protocol.Errorf(protocol.CodeUnauthenticated, "tenant no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if sp.ID() != p.TenantID {
		// As on HTTP (transport/api), behind the sweeper's token check: a token of an
		// earlier tenant of that name (deleted and created again) never reaches the
		// new one's files or events.
		return nil, protocol.Errorf(protocol.CodeUnauthenticated, "tenant no longer exists")
	}
	if c.scope != nil {
		sp = scopedSpace{Space: sp, scope: c.scope}
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
	if m.Since != nil {
		// A seq or epoch that another node gave the client may be ahead of what this
		// node has delivered (cluster mode): catch up first (outside the hub's lock,
		// which the delivery takes), so that the resume is not refused.
		if epoch, head := sp.Head(); *m.Since > head || (m.Epoch != "" && m.Epoch != epoch) {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			sp.CatchUp(ctx)
			cancel()
		}
	}
	p := c.principal.Load()
	c.th = c.h.acquireTenant(p.TenantID, p.Tenant)
	c.th.subscribe(c, sp, m.Since, m.Epoch)
}
