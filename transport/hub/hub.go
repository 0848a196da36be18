// Package hub serves syncd's real-time WebSocket endpoint GET /ws (SPEC §4).
//
// Each tenant with subscribers has one tenant hub holding its live subscriber set.
// The registry listener (tenants.Registry.ListenByID, called per tenant in seq order)
// fans each committed event out right there, under the tenant hub's lock, into the
// subscribers' bounded send queues: the event is encoded once, as a complete text
// frame shared by every subscriber. Pushing never blocks; a subscriber whose queue
// overflows is closed with 4008 and never waited for. Each connection has exactly one
// reader goroutine and at most one writer goroutine, started when something is queued
// and ended when the queue is empty (idle sockets park only the reader); the writer
// frames everything queued itself and writes it in one socket write with one write
// deadline. The HTTP handler returns right after the upgrade so no handler goroutine
// stays parked per socket. One sweeper goroutine per Hub checks every live
// connection's token about four times a second (expiry → 4004, revocation, key
// retirement or tenant deletion → 4005), sends WebSocket pings and closes idle,
// unsubscribed connections.
//
// A subscriber whose queue overflows gets its 4008 close frame within CloseTimeout
// (default 5 s): the data write in progress is held to the same deadline, and each
// socket's unsent kernel bytes are bounded (TCP_NOTSENT_LOWAT, see sockopt.go) so
// that the frame does not wait behind megabytes a slow reader will never take in
// time. If even the close frame cannot be written by then, the socket is reset.
//
// Subscribe with since/epoch replays the change log straight from the store, paced to
// the reader (not through the send queue), and then switches the subscriber to live
// events under the tenant hub's lock so that no event is lost or sent twice.
package hub

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/httperr"
	"github.com/syncspace/syncspace/transport/metrics"
)

// Options tunes the hub. Zero fields take the SPEC defaults (see withDefaults). syncd's
// wiring fills them from its config (limits and websocket sections).
type Options struct {
	PingInterval   time.Duration // WebSocket ping period; 0 = 30 s
	PongTimeout    time.Duration // close after this long without a pong (or any frame); 0 = 60 s
	IdleTimeout    time.Duration // close a connection unsubscribed for this long; 0 = 5 min
	AuthTimeout    time.Duration // deadline for the Auth frame; 0 = 10 s
	WriteTimeout   time.Duration // deadline of one frame write; 0 = 10 s
	CloseTimeout   time.Duration // from a close (e.g. 4008) to the close frame written, else the socket is cut; 0 = 5 s
	CheckInterval  time.Duration // token re-check / housekeeping period; 0 = 250 ms
	AllowedOrigins []string      // browser origins allowed besides same-origin
	MaxFrame       int64         // inbound frame limit after auth; 0 = 64 KiB
	SendQueue      int           // live send-queue length per subscriber; 0 = 256
	PerToken       int           // concurrent sockets per token; 0 = 16
	MessageRate    float64       // inbound messages per second; 0 = 100
	MessageBurst   int           // inbound burst; 0 = 200
	MaxBatchBytes  int           // max bytes packed in one frame with batch; 0 = 16 KiB
	NodeID         string        // cluster mode: this node's name, each ConnInfo's NodeID; "" = none
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PingInterval, 30*time.Second)
	def(&o.PongTimeout, 60*time.Second)
	def(&o.IdleTimeout, 5*time.Minute)
	def(&o.AuthTimeout, 10*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.CloseTimeout, 5*time.Second)
	def(&o.CheckInterval, 250*time.Millisecond)
	if o.MaxFrame <= 0 {
		o.MaxFrame = 64 << 10
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 256
	}
	if o.PerToken <= 0 {
		o.PerToken = 16
	}
	if o.MessageRate <= 0 {
		o.MessageRate = 100
	}
	if o.MessageBurst <= 0 {
		o.MessageBurst = 200
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 16 << 10
	}
	return o
}

// Deps are the hub's collaborators. Registry and Auth are required.
type Deps struct {
	Registry Registry             // tenants (FromRegistry(*tenants.Registry))
	Auth     Verifier             // *auth.Service
	Upgrade  UpgradeAuthenticator // *authmw.Middleware; nil = Auth.Verify on the header token
	Metrics  *metrics.Metrics     // nil = no metrics
	Logger   *slog.Logger         // nil = slog.Default()
}

// ConnInfo describes one live connection for GET /admin/connections. ClientID is ""
// until the connection subscribed; Tenant and Subject are "" until it authenticated.
type ConnInfo struct {
	ID          string    `json:"id"`
	Tenant      string    `json:"tenant"`
	Subject     string    `json:"subject"`
	ClientID    string    `json:"client_id"`
	RemoteAddr  string    `json:"remote_addr"`
	ConnectedAt time.Time `json:"connected_at"`
	MessagesIn  int64     `json:"messages_in"`
	MessagesOut int64     `json:"messages_out"`
	NodeID      string    `json:"node_id,omitempty"` // the node holding it (cluster mode, Options.NodeID)
}

// Hub is the /ws endpoint: all tenant hubs and connections of one server.
type Hub struct {
	opts     Options
	reg      Registry
	auth     Verifier
	upgrade  UpgradeAuthenticator
	metrics  *metrics.Metrics
	log      *slog.Logger
	upgrader websocket.Upgrader
	allowed  map[string]bool
	mem      memRelease // the sweeper's own: memory back to the OS after storms

	mu          sync.RWMutex
	conns       map[connID]*conn
	perToken    map[string]tokenUse   // jti → live sockets and their principal
	perTenant   map[string]int        // tenant → authenticated sockets (metrics)
	tenants     map[string]*tenantHub // by tenant id (a name may be reused)
	closing     bool
	unavailable atomic.Bool    // SetUnavailable: new sockets refused
	connWG      sync.WaitGroup // one per connection, done when fully torn down
	sweeperStop chan struct{}
	sweeperDone chan struct{}
}

// readBufferSize is each connection's read buffer: gorilla's smallest (it must hold a
// control frame's 125-byte payload), since every idle socket keeps its buffer. Frame
// headers are read through it; larger payloads are read past it, straight into the
// message (TestFrameLargerThanReadBuffer).
const readBufferSize = 128

// writeBufferPool is shared by every connection: a buffer is held only while a frame
// is being written, so idle connections own none.
var writeBufferPool = &sync.Pool{}

// New builds a Hub, registers it as a listener of the registry's commits and starts
// its sweeper goroutine (stopped by Shutdown).
func New(opts Options, d Deps) *Hub {
	opts = opts.withDefaults()
	h := &Hub{
		opts:        opts,
		reg:         d.Registry,
		auth:        d.Auth,
		upgrade:     d.Upgrade,
		metrics:     d.Metrics,
		log:         d.Logger,
		allowed:     map[string]bool{},
		conns:       map[connID]*conn{},
		perToken:    map[string]tokenUse{},
		perTenant:   map[string]int{},
		tenants:     map[string]*tenantHub{},
		sweeperStop: make(chan struct{}),
		sweeperDone: make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "hub")
	for _, o := range opts.AllowedOrigins {
		h.allowed[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout:  opts.WriteTimeout,
		ReadBufferSize:    readBufferSize,
		WriteBufferSize:   4096,
		WriteBufferPool:   writeBufferPool,
		CheckOrigin:       h.checkOrigin,
		EnableCompression: false,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			code := protocol.CodeBadRequest
			msg := "not a valid WebSocket upgrade"
			if status == http.StatusForbidden {
				code, msg = protocol.CodeForbidden, "cross-origin WebSocket upgrade refused"
			}
			httperr.WriteRaw(w, status, code, msg)
		},
	}
	if h.reg != nil {
		h.reg.Listen(h.publish)
		if rr, ok := h.reg.(resetsRegistry); ok {
			rr.ListenResets(h.resetTenant)
		}
	}
	go h.sweep()
	return h
}

// checkOrigin allows requests without Origin (non-browser clients), same-origin
// requests and origins listed in allowed_origins. "null" is cross-origin.
func (h *Hub) checkOrigin(r *http.Request) bool {
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return true
	}
	if len(origins) > 1 {
		return false
	}
	o := strings.ToLower(strings.TrimRight(origins[0], "/"))
	if h.allowed[o] {
		return true
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// Handler serves GET /ws: origin check, token from the Authorization header if there
// is one, the per-token cap, then the upgrade. A header token that does not verify
// gets the upgrade and then close 4001, as SPEC §4 says of a bad token, and a valid
// ops token close 4003 (forbidden); two Authorization headers (400) and a limited address (429) are refused
// before the upgrade. The handler returns right after the upgrade; the connection
// lives in its own reader and writer goroutines.
func (h *Hub) Handler(c echo.Context) error {
	r := c.Request()
	w := c.Response()
	if auth.QueryCarriesToken(r.URL.RawQuery) {
		return httperr.Write(c, protocol.Errorf(protocol.CodeBadRequest, "tokens are accepted only in the Authorization header or the Auth frame"))
	}
	if refused, err := h.refuseUnavailable(c); refused {
		return err
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return httperr.Write(c, protocol.Errorf(protocol.CodeBadRequest, "WebSocket upgrade required"))
	}
	if !h.checkOrigin(r) {
		return httperr.Write(c, protocol.Errorf(protocol.CodeForbidden, "cross-origin WebSocket upgrade refused"))
	}
	var p *auth.Principal
	var refuse int // close code for a header token refused after the upgrade
	if len(r.Header.Values("Authorization")) > 0 {
		var err error
		p, err = h.authenticateHeader(r)
		if err != nil {
			h.metrics.AuthFailed(metrics.TransportWS)
			switch protocol.CodeOf(err) {
			case protocol.CodeUnauthenticated:
				refuse = protocol.CloseUnauthenticated
			case protocol.CodeForbidden:
				refuse = protocol.CloseForbidden
			default:
				return httperr.Write(c, err)
			}
			p = nil
		}
	}
	if p != nil && !h.reserve(p.JTI) {
		w.Header().Set("Retry-After", "1")
		return httperr.Write(c, protocol.Errorf(protocol.CodeRateLimited, "too many WebSocket connections for this token"))
	}
	if h.isClosing() {
		if p != nil {
			h.unreserve(p.JTI)
		}
		return httperr.Write(c, protocol.Errorf(protocol.CodeUnavailable, "server shutting down"))
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		if p != nil {
			h.unreserve(p.JTI)
		}
		return nil // the upgrader has answered the request
	}
	if err := tuneSocket(ws.NetConn()); err != nil {
		h.log.Debug("socket option not set", "err", err)
	}
	if refuse != 0 {
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(refuse, refuseReason(refuse)), time.Now().Add(time.Second))
		_ = ws.Close()
		return nil
	}
	cn := h.newConn(r, ws, p)
	if code, reason := h.register(cn, p); code != 0 {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = ws.Close()
		return nil
	}
	cn.start()
	return nil
}

// refuseReason is the close reason sent with a refused token's close code.
func refuseReason(code int) string {
	if code == protocol.CloseForbidden {
		return "ops tokens are refused on /ws"
	}
	return "invalid token"
}

// authenticateHeader verifies the upgrade's Authorization header.
func (h *Hub) authenticateHeader(r *http.Request) (*auth.Principal, error) {
	if h.upgrade != nil {
		return h.upgrade.Authenticate(r.Context(), r, auth.AudienceTenant)
	}
	hs := r.Header.Values("Authorization")
	if len(hs) != 1 {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "more than one Authorization header")
	}
	scheme, tok, ok := strings.Cut(hs[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return nil, protocol.Errorf(protocol.CodeUnauthenticated, "bearer token required")
	}
	return h.auth.Verify(r.Context(), strings.TrimSpace(tok), auth.AudienceTenant)
}

// clientAddrer is implemented by *authmw.Middleware: the client address, honouring
// X-Forwarded-For from trusted proxies only.
type clientAddrer interface {
	ClientAddrOf(r *http.Request) netip.Addr
}

// remoteAddr names r's client for ConnInfo.
func (h *Hub) remoteAddr(r *http.Request) string {
	if ca, ok := h.upgrade.(clientAddrer); ok {
		if a := ca.ClientAddrOf(r); a.IsValid() {
			return a.String()
		}
	}
	return r.RemoteAddr
}

func (h *Hub) isClosing() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closing
}

// register adds cn to the connection table; with p (whose token slot the caller
// reserved) it makes p, or the equal principal the token's other sockets hold, cn's
// principal and counts the tenant's connection. When the hub is shutting down it gives
// the slot back and fails with a close code.
func (h *Hub) register(cn *conn, p *auth.Principal) (code int, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		if p != nil {
			h.decToken(p.JTI)
		}
		return protocol.CloseGoingAway, "server shutting down"
	}
	if p != nil {
		cn.setAuthenticated(h.sharedPrincipalLocked(p))
		h.perTenant[p.Tenant]++
		h.metrics.ConnOpened(p.Tenant)
	}
	h.conns[cn.id] = cn
	h.connWG.Add(1)
	return 0, ""
}

// unregister removes cn from the tables; it is called once per registered conn.
func (h *Hub) unregister(cn *conn) {
	h.mu.Lock()
	p := cn.principal.Load() // under h.mu: refreshed moves slots under it
	if _, ok := h.conns[cn.id]; ok {
		delete(h.conns, cn.id)
		if p != nil {
			h.decToken(p.JTI)
			h.perTenant[p.Tenant]--
			n := h.perTenant[p.Tenant]
			if n <= 0 {
				delete(h.perTenant, p.Tenant)
			}
			h.metrics.ConnClosed(p.Tenant, n)
		}
		h.connWG.Done()
	}
	h.mu.Unlock()
}

// Connections lists the live connections (GET /admin/connections), oldest first.
func (h *Hub) Connections() []ConnInfo {
	h.mu.RLock()
	out := make([]ConnInfo, 0, len(h.conns))
	for _, c := range h.conns {
		out = append(out, c.info())
	}
	h.mu.RUnlock()
	sortConnInfo(out)
	return out
}

// Disconnect closes the connection with that id (DELETE /admin/connections/{id}) with
// close code 1000 and reason "closed by operator"; the client may reconnect. It
// reports whether such a connection existed.
func (h *Hub) Disconnect(id string) bool {
	key, ok := parseConnID(id)
	if !ok {
		return false
	}
	h.mu.RLock()
	c := h.conns[key]
	h.mu.RUnlock()
	if c == nil {
		return false
	}
	c.close(websocket.CloseNormalClosure, "closed by operator")
	return true
}

// Shutdown closes every socket with 1001, refuses new upgrades, and waits until every
// connection's goroutines have ended or ctx is done. It returns ctx's error
// in the latter case.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	already := h.closing
	h.closing = true
	conns := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	if !already {
		close(h.sweeperStop)
	}
	for _, c := range conns {
		c.close(websocket.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		h.connWG.Wait()
		<-h.sweeperDone
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.abort()
		}
		return ctx.Err()
	}
}

// sweep runs every CheckInterval: token expiry and validity, pings, idle timeout.
func (h *Hub) sweep() {
	defer close(h.sweeperDone)
	t := time.NewTicker(h.opts.CheckInterval)
	defer t.Stop()
	var batch []*conn
	prev := time.Now() // the previous round, for pings (pingDue)
	for {
		select {
		case <-h.sweeperStop:
			return
		case <-t.C:
		}
		batch = batch[:0]
		h.mu.RLock()
		for _, c := range h.conns {
			batch = append(batch, c)
		}
		h.mu.RUnlock()
		now := time.Now()
		for _, c := range batch {
			c.housekeep(prev, now)
		}
		prev = now
		if h.mem.observe(now, len(batch)) {
			h.mem.release()
		}
		clear(batch)
	}
}

// publish is the registry listener: it hands ev to the hub of the tenant with that
// id, if the tenant has one. It never blocks.
func (h *Hub) publish(tenantID string, ev protocol.Event) {
	h.mu.RLock()
	th := h.tenants[tenantID]
	h.mu.RUnlock()
	if th != nil {
		th.push(&ev)
	}
}

// acquireTenant returns the hub of the tenant with that id (and name, for logs),
// starting it on first use, with one more reference held by the caller.
func (h *Hub) acquireTenant(id, name string) *tenantHub {
	h.mu.Lock()
	defer h.mu.Unlock()
	th := h.tenants[id]
	if th == nil {
		th = newTenantHub(h, id, name)
		h.tenants[id] = th
	}
	th.refs++
	return th
}

// releaseTenant drops a reference; the last one stops the tenant hub.
func (h *Hub) releaseTenant(th *tenantHub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	th.refs--
	if th.refs == 0 {
		if h.tenants[th.id] == th {
			delete(h.tenants, th.id)
		}
		th.stop()
	}
}
