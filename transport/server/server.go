// Package server assembles syncd's HTTP handlers: the main Echo instance (tenant API,
// /ws hub, and the admin API when the main listener is a loopback address) and, when
// admin_listen is set, a separate admin Echo instance.
//
// Both instances share transport/guard first of all (slow bodies cut, early answers
// close instead of draining, stalled readers cut, query strings decoded strictly on
// every route), one error table (transport/httperr), a recover middleware that
// answers 500 "internal" without detail, a request log through log/slog that never
// records query strings or Authorization headers, and SPEC §3's common response headers.
// Client addresses (Echo's IPExtractor, the request log's remote) are transport/authmw's:
// the TCP peer, or X-Forwarded-For when the peer is a trusted proxy; authmw alone
// decides when that header counts.
package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/share"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/admin"
	"github.com/syncspace/syncspace/transport/api"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/httperr"
	"github.com/syncspace/syncspace/transport/hub"
	"github.com/syncspace/syncspace/transport/logpath"
	"github.com/syncspace/syncspace/transport/metrics"
	"github.com/syncspace/syncspace/transport/publicurl"
	sharehttp "github.com/syncspace/syncspace/transport/share"
	"github.com/syncspace/syncspace/transport/team"
	"github.com/syncspace/syncspace/transport/tokenep"
	"github.com/syncspace/syncspace/transport/web"
)

// Options are the server's settings; syncd's wiring maps its config to them.
type Options struct {
	// TrustedProxies are the peers whose X-Forwarded-For counts (transport/authmw).
	TrustedProxies []netip.Prefix
	// Guard tunes the slow-body and stalled-answer guard of every route.
	Guard guard.Options
	// Hub tunes the /ws hub.
	Hub hub.Options
	// ReadOnly refuses every write with 403 forbidden.
	ReadOnly bool
	// Web serves the web app at "/"; false leaves "/" 404.
	Web bool
	// Admin says where the admin API and /metrics are mounted.
	Admin AdminMount
	// ParseSize reads sizes given as strings in admin requests (config.ParseSize).
	ParseSize func(string) (int64, error)
	// PublicURL is PUBLIC_URL, the root of share links' url and the server of device
	// credentials: web.public_url, else derived from the listen address and TLS mode
	// (cmd/syncd sets it); "" uses the address the request's connection reached
	// (transport/publicurl). A request's Host and X-Forwarded-* never count.
	PublicURL string
}

// AdminMount says where the admin API is served.
type AdminMount int

const (
	// AdminNone serves no admin API (a non-loopback listen without admin_listen).
	AdminNone AdminMount = iota
	// AdminOnMain serves it on the main listener (a loopback listen address).
	AdminOnMain
	// AdminSeparate serves it on its own handler, Admin() (admin_listen).
	AdminSeparate
)

// Deps are what the server is built from. Tenants and Auth are required; Logger nil
// means slog.Default().
type Deps struct {
	Options Options
	Tenants *tenants.Registry
	Auth    *auth.Service
	Logger  *slog.Logger
	// DB, when set, is pinged by GET /readyz.
	DB *sql.DB
	// Shares, when set, serves share links (/api/shares, /s/{id}).
	Shares *share.Service
	// AccessLog, when set, writes the request log's lines in place of Logger, in
	// Logger's own format (see AccessLog).
	AccessLog *AccessLog
}

// Server holds the assembled handlers.
type Server struct {
	main    *echo.Echo
	admin   *echo.Echo // nil without admin_listen
	mw      *authmw.Middleware
	logger  *slog.Logger
	hub     *hub.Hub
	metrics *metrics.Metrics
	guard   guard.Options
	// shutdown hooks of mounted parts (the hub closes its sockets with 1001).
	onShutdown []func(ctx context.Context) error
	ready      func(ctx context.Context) error // the index answers (GET /readyz)
	tenants    *tenants.Registry
}

// New builds the main Echo and, with AdminSeparate, the admin Echo.
func New(ctx context.Context, d Deps) (*Server, error) {
	if d.Tenants == nil || d.Auth == nil {
		return nil, errors.New("server: Tenants and Auth are required")
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	o := d.Options
	s := &Server{logger: logger}
	s.mw = authmw.New(d.Auth, authmw.Options{TrustedProxies: o.TrustedProxies, Logger: logger})

	s.metrics = metrics.New()
	s.guard = o.Guard
	s.main = newEcho(logger, d.AccessLog, s.metrics, s.guard, s.clientIP(o))
	s.useNode(d)
	s.main.Use(s.storeDown)
	if err := s.mountAPI(d, s.ready, logger); err != nil {
		return nil, err
	}

	tokenep.Register(s.main, d.Auth, s.mw, logger)
	if o.Hub.NodeID != "" {
		s.metrics.NodeInfo(o.Hub.NodeID)
	}
	s.hub = hub.New(hubOptions(o), hub.Deps{
		Registry: hub.FromRegistry(d.Tenants),
		Auth:     d.Auth,
		Upgrade:  s.mw,
		Metrics:  s.metrics,
		Logger:   logger,
	})
	s.main.GET("/ws", s.hub.Handler)
	s.onShutdown = append(s.onShutdown, func(ctx context.Context) error { return s.hub.Shutdown(ctx) })

	// The web app (SPEC §7.2) on the main listener; web.enabled false leaves "/" 404.
	if o.Web {
		app, err := web.New()
		if err != nil {
			return nil, err
		}
		h := echo.WrapHandler(app)
		for _, p := range []string{"/", "/index.html", web.AssetPrefix + "*"} {
			s.main.GET(p, h)
			s.main.HEAD(p, h)
		}
	}

	adminTarget := (*echo.Echo)(nil)
	switch o.Admin {
	case AdminSeparate:
		s.admin = newEcho(logger, d.AccessLog, s.metrics, s.guard, s.clientIP(o))
		s.admin.Use(s.storeDown)
		adminTarget = s.admin
	case AdminOnMain:
		adminTarget = s.main
	}
	if adminTarget != nil {
		adminTarget.GET("/metrics", s.metrics.EchoHandler(), s.mw.Ops())
		// The admin API (transport/admin): Register applies s.mw.Ops() itself.
		if err := admin.Register(adminTarget.Group("/admin"), admin.Options{
			Auth:            d.Auth,
			Tenants:         d.Tenants,
			ParseSize:       o.ParseSize,
			MW:              s.mw,
			ListConnections: func() any { return s.hub.Connections() },
			Disconnect:      s.hub.Disconnect,
			PublicURL:       o.PublicURL,
			Logger:          logger,
		}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// clientIP is the request log's client address: authmw's (X-Forwarded-For of a
// trusted proxy) when o has trusted proxies, else nil, the TCP peer, which is the same
// address without authmw's parse and formatting on every request.
func (s *Server) clientIP(o Options) echo.IPExtractor {
	if len(o.TrustedProxies) == 0 {
		return nil
	}
	return s.mw.IPExtractor()
}

// hubOptions are o.Hub with the origin of the public URL allowed: the web app served
// there opens /ws from that origin, and a reverse proxy may forward another Host
// (nginx's default is the proxy_pass address), which would make the app's own upgrade
// look cross-origin.
func hubOptions(o Options) hub.Options {
	h := o.Hub
	if origin := publicurl.Origin(o.PublicURL); origin != "" {
		h.AllowedOrigins = append(slices.Clip(h.AllowedOrigins), origin)
	}
	return h
}

// Main returns the handler of the main listener.
func (s *Server) Main() http.Handler { return s.main }

// Admin returns the handler of admin_listen, or nil when it is not set.
func (s *Server) Admin() http.Handler {
	if s.admin == nil {
		return nil
	}
	return s.admin
}

// Middleware returns the authentication middleware the server uses.
func (s *Server) Middleware() *authmw.Middleware { return s.mw }

// Shutdown closes what http.Server.Shutdown does not: hijacked WebSockets are closed
// with 1001 by the hub. It does not stop the listeners (the caller's http.Server does).
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	for _, fn := range s.onShutdown {
		errs = append(errs, fn(ctx))
	}
	return errors.Join(errs...)
}

// Hub returns the /ws hub (for the admin API's connection list).
func (s *Server) Hub() *hub.Hub { return s.hub }

// Metrics returns the Prometheus collectors.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// newEcho returns an Echo instance with syncspace's common middleware. The guard
// middleware comes first, so that every answer (error answers written by the request
// log's c.Error included) goes through its writer. ip is c.RealIP(), the request
// log's remote: transport/authmw's, the client address the failed-auth limiter uses
// (X-Forwarded-For from trusted proxies only); nil means the TCP peer.
func newEcho(logger *slog.Logger, al *AccessLog, m *metrics.Metrics, g guard.Options, ip echo.IPExtractor) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = ip
	if ip == nil {
		e.IPExtractor = echo.ExtractIPDirect()
	}
	e.HTTPErrorHandler = httperr.Handler(logger)
	e.Logger.SetOutput(discard{})
	e.Use(guard.Middleware(g), RequestLog(logger, al), m.Middleware(), recoverInternal(logger), commonHeaders, guard.Query)
	return e
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// commonHeaders sets SPEC §3's headers on every answer, and refuses a token in the
// query string on every route (SPEC §2), the unauthenticated ones included.
func commonHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		// What Header.Set stores, without its per-call canonicalization and value
		// slice: the keys are canonical and the shared one-value slices are never
		// written in place (Header.Set replaces a slice, Header.Add appends to a
		// full one, which copies).
		if tokenBearing(c.Request()) {
			h["Cache-Control"] = hdrNoStore
		} else {
			h["Cache-Control"] = hdrPrivateNoCache
		}
		h["X-Content-Type-Options"] = hdrNosniff
		h["Referrer-Policy"] = hdrNoReferrer
		if auth.QueryCarriesToken(c.Request().URL.RawQuery) {
			return errQueryToken
		}
		return next(c)
	}
}

// The values of the common headers, shared by every answer (see commonHeaders).
var (
	hdrNoStore        = []string{"no-store"}
	hdrPrivateNoCache = []string{"private, no-cache"}
	hdrNosniff        = []string{"nosniff"}
	hdrNoReferrer     = []string{"no-referrer"}
)

var errQueryToken = &protocol.Error{Code: protocol.CodeBadRequest, Message: "tokens are not accepted in the query string; use the Authorization header"}

// tokenBearing reports whether the answer to r may carry a token.
func tokenBearing(r *http.Request) bool {
	p := r.URL.Path
	return p == "/admin/tokens" || strings.HasPrefix(p, "/admin/tokens/")
}

// recoverInternal turns a handler panic into 500 "internal", logging the stack.
// http.ErrAbortHandler is re-raised so that net/http aborts the connection quietly.
func recoverInternal(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				r := recover()
				if r == nil {
					return
				}
				if r == http.ErrAbortHandler {
					panic(r)
				}
				logger.LogAttrs(c.Request().Context(), slog.LevelError, "panic in handler",
					slog.String("method", c.Request().Method),
					slog.String("path", logpath.Of(c.Request().URL.Path)),
					slog.String("panic", fmt.Sprint(r)),
					slog.String("stack", string(debug.Stack())))
				err = &protocol.Error{Code: protocol.CodeInternal, Message: "internal error", Err: fmt.Errorf("panic: %v", r)}
			}()
			return next(c)
		}
	}
}

// RequestLog logs one line per request: method, path (never the query string; a share
// link's id replaced by its key prefix, transport/logpath), route
// template, status, bytes, duration and client address. Authorization is never logged.
// With al the line is written by al (the same bytes), else through logger. It is
// exported for syncbench's peers, which must log as syncd does.
func RequestLog(logger *slog.Logger, al *AccessLog) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				// Let the error handler write the answer now so that the status is known.
				c.Error(err)
			}
			req := c.Request()
			status := c.Response().Status
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			ctx := req.Context()
			h := logger.Handler()
			if al != nil && !al.enabled(level) || al == nil && !h.Enabled(ctx, level) {
				return nil
			}
			now := time.Now()
			rec := accessRecord{time: now, level: level, method: req.Method, path: logpath.Of(req.URL.Path), route: c.Path(),
				status: status, bytes: c.Response().Size, duration: now.Sub(start), remote: c.RealIP()}
			if al != nil && al.write(&rec) {
				return nil
			}
			// The record goes to the handler directly, as Logger.LogAttrs would hand
			// it over, without the caller's program counter that Logger.LogAttrs
			// takes on every call (runtime.Callers) for a source the handlers
			// print only with AddSource, which syncd never sets.
			r := slog.NewRecord(now, level, "request", 0)
			r.AddAttrs(rec.attrs()...)
			_ = h.Handle(ctx, r)
			return nil
		}
	}
}

// mountAPI mounts the tenant API (transport/api) and what a team runs itself with:
// /api/team for tenant admins (transport/team) and, with a share store, share links
// (transport/share).
func (s *Server) mountAPI(d Deps, ready func(context.Context) error, logger *slog.Logger) error {
	if err := api.Register(s.main, api.Options{
		Registry: d.Tenants,
		Auth:     d.Auth,
		MW:       s.mw,
		ReadOnly: d.Options.ReadOnly,
		Ready:    ready,
		Degraded: s.degraded,
		Logger:   logger,
	}); err != nil {
		return err
	}
	if err := team.Register(s.main, team.Options{Auth: d.Auth, MW: s.mw, PublicURL: d.Options.PublicURL, Logger: logger}); err != nil {
		return err
	}
	if d.Shares == nil {
		return nil
	}
	return sharehttp.Register(s.main, sharehttp.Options{
		Shares: d.Shares, Auth: d.Auth, MW: s.mw, Registry: d.Tenants, PublicURL: d.Options.PublicURL, Logger: logger,
	})
}
