package hub

import (
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/httperr"
)

// closeRestart is the close code that sends clients to another node (SPEC §7.1):
// 1012, service restart; clients retry at once and resume with since.
const closeRestart = websocket.CloseServiceRestart

// SetUnavailable with true makes the hub refuse new sockets (503 unavailable) and
// close every open one with 1012, so that clients reconnect through the load balancer
// to a node that can serve them (this node lost its database); false accepts sockets
// again.
func (h *Hub) SetUnavailable(down bool) {
	if h.unavailable.Swap(down) == down || !down {
		return
	}
	h.mu.RLock()
	conns := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	h.log.Warn("closing every WebSocket with 1012: the node cannot serve", "sockets", len(conns))
	for _, c := range conns {
		c.close(closeRestart, "service restart: reconnect")
	}
}

// refuseUnavailable answers an upgrade while the hub is unavailable; false otherwise.
func (h *Hub) refuseUnavailable(c echo.Context) (bool, error) {
	if !h.unavailable.Load() {
		return false, nil
	}
	c.Response().Header().Set("Retry-After", "1")
	return true, httperr.Write(c, protocol.Errorf(protocol.CodeUnavailable, "this node cannot serve now"))
}

// resetTenant handles a tenant whose history changed under its live subscribers
// (another node started a new epoch): they are closed with 1012 and resume with
// since/epoch, which answers ResyncRequired as after a restart; events continue after
// head.
func (h *Hub) resetTenant(tenantID, _ string, head int64) {
	h.mu.RLock()
	th := h.tenants[tenantID]
	h.mu.RUnlock()
	if th == nil {
		return
	}
	th.mu.Lock()
	subs := append([]*conn(nil), th.subs...)
	for len(th.subs) > 0 {
		th.removeAt(len(th.subs) - 1)
	}
	th.lastSeen = head
	th.mu.Unlock()
	for _, c := range subs {
		c.close(closeRestart, "history changed: resume with since")
	}
}
