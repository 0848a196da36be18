// Package authmw is syncd's bearer-token middleware for Echo (SPEC §2): it takes the
// token from `Authorization: Bearer` only (scheme case-insensitive; two Authorization
// headers are 400; a token, access_token or jwt query parameter is 400 and never
// logged), verifies it with *auth.Service for the route family's audience, checks the
// route's role, and puts the principal into the request context. Failed
// authentications are rate-limited per client address (IPv6 by /64) in a bounded
// table; a token that verifies is never refused by that limiter. The client address
// honours X-Forwarded-For only from trusted proxies. Failed authentications on the
// admin routes (Ops) are written to the audit log.
package authmw

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/httperr"
)

// Options configure a Middleware. Zero values take defaults: FailBurst 10 failed
// authentications per address, then one more per FailEvery (3s); MaxClients 16384
// addresses tracked; Logger slog.Default(). TrustedProxies nil trusts no proxy.
type Options struct {
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	FailBurst      int
	FailEvery      time.Duration
	MaxClients     int
}

// Middleware authenticates requests; create it with New. It is safe for concurrent use.
type Middleware struct {
	svc     *auth.Service
	proxies []netip.Prefix
	limiter *failLimiter
	log     *slog.Logger
	now     func() time.Time
}

// New returns a Middleware verifying tokens with svc.
func New(svc *auth.Service, o Options) *Middleware {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FailBurst <= 0 {
		o.FailBurst = 10
	}
	if o.FailEvery <= 0 {
		o.FailEvery = 3 * time.Second
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 16384
	}
	proxies := make([]netip.Prefix, len(o.TrustedProxies))
	for i, p := range o.TrustedProxies {
		proxies[i] = p.Masked()
	}
	return &Middleware{
		svc:     svc,
		proxies: proxies,
		limiter: newFailLimiter(o.FailBurst, o.FailEvery, o.MaxClients),
		log:     o.Logger.With("component", "authmw"),
		now:     time.Now,
	}
}

// authKey is the request-context key of an authenticated request's *requestAuth.
type authKey struct{}

// requestAuth is what the middleware keeps of an authenticated request: the
// principal (auth.FromContext's too) and the client address. It is the request's
// context itself, over the context the request came with, so that the whole costs
// one allocation a request (no per-request map in Echo's context, no
// context.WithValue layers, no separate copy of the principal).
type requestAuth struct {
	context.Context
	p auth.Principal
	// addr is the client address when a trusted proxy may have set it; with no
	// trusted proxies it is computed from remote (the TCP peer) when asked.
	addr    netip.Addr
	hasAddr bool
	remote  string
}

// Value answers authKey with a itself and auth's principal key with its principal;
// any other key is the parent's.
func (a *requestAuth) Value(key any) any {
	if _, ok := key.(authKey); ok {
		return a
	}
	if auth.IsContextKey(key) {
		return &a.p
	}
	return a.Context.Value(key)
}

func (a *requestAuth) clientAddr() netip.Addr {
	if a.hasAddr {
		return a.addr
	}
	return remoteAddr(a.remote)
}

func requestAuthOf(c echo.Context) *requestAuth {
	a, _ := c.Request().Context().Value(authKey{}).(*requestAuth)
	return a
}

// PrincipalFrom returns the principal the middleware stored for this request, or nil
// on a route without authentication.
func PrincipalFrom(c echo.Context) *auth.Principal {
	if a := requestAuthOf(c); a != nil {
		return &a.p
	}
	return nil
}

// ClientAddr returns the client address of the request: the one the middleware
// determined (X-Forwarded-For honoured only from trusted proxies), or the TCP peer on
// a route without the middleware.
func ClientAddr(c echo.Context) netip.Addr {
	if a := requestAuthOf(c); a != nil {
		return a.clientAddr()
	}
	return peerAddr(c.Request())
}

// Tenant returns middleware for /api routes: a tenant token (aud syncspace) holding at
// least minRole (read < write < admin). 401 unauthenticated, 403 forbidden, 400
// bad_request, 429 rate_limited.
func (m *Middleware) Tenant(minRole string) echo.MiddlewareFunc {
	return m.middleware(auth.AudienceTenant, minRole, false)
}

// Ops returns middleware for /admin and /metrics: an ops token (aud syncspace-admin).
// Every failure is appended to the audit log (at most one entry a second per address
// while that address is rate-limited).
func (m *Middleware) Ops() echo.MiddlewareFunc {
	return m.middleware(auth.AudienceOps, auth.RoleOps, true)
}

func (m *Middleware) middleware(audience, role string, audit bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			ra := &requestAuth{Context: r.Context(), remote: r.RemoteAddr}
			if len(m.proxies) > 0 {
				ra.addr, ra.hasAddr = m.ClientAddrOf(r), true
			}
			var p *auth.Principal
			err := m.authenticate(r.Context(), r, audience, &ra.p)
			if err == nil {
				if p = &ra.p; !p.Can(role) {
					err = protocol.Errorf(protocol.CodeForbidden, "token lacks role %s", role)
				}
			}
			if err != nil {
				if audit {
					m.auditFailure(c, ra.clientAddr(), p, err)
				}
				return httperr.Write(c, err)
			}
			c.SetRequest(r.WithContext(ra))
			return next(c)
		}
	}
}

func (m *Middleware) auditFailure(c echo.Context, addr netip.Addr, p *auth.Principal, err error) {
	code := protocol.CodeOf(err)
	if code == protocol.CodeInternal {
		return
	}
	if code == protocol.CodeRateLimited && !m.limiter.auditAllowed(limitKey(addr), m.now()) {
		return
	}
	e := auth.AuditEntry{
		Actor:   "anonymous",
		Address: addr.String(),
		Action:  "auth.failed",
		Target:  c.Request().Method + " " + c.Request().URL.Path,
		Outcome: string(code),
	}
	var refused *auth.RefusedError
	if p == nil && errors.As(err, &refused) {
		p = refused.Principal // a valid token of the other family: audit who it was
	}
	if p != nil {
		e.Actor, e.JTI = auth.ActorOf(p), p.JTI
	}
	if aerr := m.svc.Audit(context.WithoutCancel(c.Request().Context()), e); aerr != nil {
		m.log.Error("audit of failed admin authentication failed", "err", aerr)
	}
}

// Authenticate verifies the request's bearer token for audience with the same rules
// and rate limiter as the middleware (the /ws upgrade uses it). Errors are
// *protocol.Error: bad_request, unauthenticated, rate_limited (which also carries a
// Retry-After, see httperr.RetryAfterError) or internal.
func (m *Middleware) Authenticate(ctx context.Context, r *http.Request, audience string) (*auth.Principal, error) {
	p := new(auth.Principal)
	if err := m.authenticate(ctx, r, audience, p); err != nil {
		return nil, err
	}
	return p, nil
}

var (
	errNoToken      = &protocol.Error{Code: protocol.CodeUnauthenticated, Message: "bearer token required"}
	errTwoHeaders   = &protocol.Error{Code: protocol.CodeBadRequest, Message: "more than one Authorization header"}
	errQueryToken   = &protocol.Error{Code: protocol.CodeBadRequest, Message: "tokens are not accepted in the query string; use the Authorization header"}
	errNotBearer    = &protocol.Error{Code: protocol.CodeUnauthenticated, Message: "Authorization scheme must be Bearer"}
	errTokenTooLong = auth.ErrTokenTooLarge
	errCertBound    = &protocol.Error{Code: protocol.CodeUnauthenticated, Message: "this token is bound to a client certificate the connection did not present"}
)

// BearerToken extracts the token of an `Authorization: Bearer` header set, applying
// SPEC §2's rules (exactly one header, scheme case-insensitive, size bound).
func BearerToken(h http.Header) (string, error) {
	// h.Values would canonicalize the key first; "Authorization" is canonical, so
	// this is the same lookup.
	vals := h["Authorization"]
	switch len(vals) {
	case 0:
		return "", errNoToken
	case 1:
	default:
		return "", errTwoHeaders
	}
	v := vals[0]
	if len(v) > auth.MaxTokenSize+64 {
		return "", errTokenTooLong
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		if strings.EqualFold(scheme, "bearer") {
			return "", errNoToken
		}
		return "", errNotBearer
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" {
		return "", errNoToken
	}
	// Three byte searches (vectorized) instead of strings.ContainsAny, which walks the
	// ~600-byte token a byte at a time on every request.
	if strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 || strings.IndexByte(tok, ',') >= 0 {
		return "", auth.ErrTokenInvalid
	}
	return tok, nil
}

// authenticate verifies r's bearer token for audience into *dst, which it changes
// only when the token verifies (and its certificate binding holds).
func (m *Middleware) authenticate(ctx context.Context, r *http.Request, audience string, dst *auth.Principal) error {
	if auth.QueryCarriesToken(r.URL.RawQuery) {
		return errQueryToken
	}
	tok, err := BearerToken(r.Header)
	if err == nil {
		var p auth.Principal
		if err = m.svc.VerifyInto(ctx, tok, audience, &p); err == nil {
			if p.CertMatches(PeerCertificate(r)) {
				*dst = p
				return nil // a verifying token is never refused by the limiter
			}
			err = errCertBound
		}
	}
	switch protocol.CodeOf(err) {
	case protocol.CodeUnauthenticated:
	default:
		return err // 400 and internal failures are not guesses
	}
	addr := m.ClientAddrOf(r)
	if secs, limited := m.limiter.fail(limitKey(addr), m.now()); limited {
		return &rateLimitedError{secs: secs}
	}
	m.log.Debug("authentication failed", "addr", addr.String(), "reason", err.Error())
	return err
}

// rateLimitedError is a rate_limited *protocol.Error naming its Retry-After.
type rateLimitedError struct{ secs int }

var errRateLimited = &protocol.Error{Code: protocol.CodeRateLimited, Message: "too many failed authentications; retry later"}

func (e *rateLimitedError) Error() string          { return errRateLimited.Error() }
func (e *rateLimitedError) Unwrap() error          { return errRateLimited }
func (e *rateLimitedError) RetryAfterSeconds() int { return e.secs }

var _ httperr.RetryAfterError = (*rateLimitedError)(nil)

// ClientAddrOf returns r's client address: the TCP peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not a trusted proxy.
func (m *Middleware) ClientAddrOf(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if len(m.proxies) == 0 || !m.trusted(peer) {
		return peer
	}
	vals := r.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(vals) - 1; i >= 0; i-- {
		parts := strings.Split(vals[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := parseHop(parts[j])
			if !ok {
				return client // garbage from the hop we trust least: stop at what we know
			}
			if !m.trusted(a) {
				return a
			}
			client = a
		}
	}
	return client
}

// IPExtractor returns an echo.IPExtractor that agrees with ClientAddrOf, so that
// c.RealIP() in logs names the same address as the limiter.
func (m *Middleware) IPExtractor() echo.IPExtractor {
	return func(r *http.Request) string { return m.ClientAddrOf(r).String() }
}

func (m *Middleware) trusted(a netip.Addr) bool {
	for _, p := range m.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func peerAddr(r *http.Request) netip.Addr { return remoteAddr(r.RemoteAddr) }

// remoteAddr is the address of a request's RemoteAddr (host:port, or a bare host).
func remoteAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.IPv4Unspecified()
}

// limitKey is the limiter's key for a: the address for IPv4, its /64 for IPv6.
func limitKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
