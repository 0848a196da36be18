// Package api serves syncspace's tenant HTTP API (SPEC §3): every /api route except
// /ws, plus /healthz, /readyz and /.well-known/jwks.json.
//
// Slow bodies, stalled readers and malformed query strings are refused below the
// handlers by transport/guard, which the server mounts on every route; handlers read
// query parameters only through guard.Values (the strictly decoded query) and map
// guard.ErrSlowBody from body reads.
//
// Handlers are thin: they authenticate through transport/authmw, decode and check the
// request (path rules, headers, preconditions, sizes) before any body is read, and call
// the tenant's *tenants.Space, which owns atomicity, the index and the change log.
// Every error leaves as a *protocol.Error through transport/httperr. Lists are streamed
// entry by entry; downloads go through http.ServeContent on the underlying
// http.ResponseWriter so that sendfile, Range, If-Range and If-None-Match work.
//
// Paths in /api/files/{path} are taken from the request's URL path, which net/http has
// percent-decoded exactly once; Echo's own (second) unescaping of route parameters is
// never used.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/spaceview"
)

// Options are what the API handlers need. Registry, Auth and MW are required.
type Options struct {
	Registry *tenants.Registry
	Auth     *auth.Service
	MW       *authmw.Middleware
	// ReadOnly refuses every write with 403 forbidden (the seed's enable_upload false).
	ReadOnly bool
	// Ready reports whether the store is open and usable (GET /readyz). Nil means the
	// API is ready as soon as it is registered.
	Ready func(ctx context.Context) error
	// Degraded names the parts that work below par without making the node unready
	// (cluster mode's "bus" while it is down), listed by /readyz; nil means none.
	Degraded func() []string
	// Logger receives request-level diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// handlers holds the Options for the route handlers.
type handlers struct {
	reg      *tenants.Registry
	auth     *auth.Service
	readOnly bool
	ready    func(ctx context.Context) error
	degraded func() []string
	log      *slog.Logger
}

// Register mounts the API routes on e. It returns an error if a required option is
// missing.
func Register(e *echo.Echo, o Options) error {
	if o.Registry == nil || o.Auth == nil || o.MW == nil {
		return errors.New("api: Registry, Auth and MW are required")
	}
	h := &handlers{
		reg:      o.Registry,
		auth:     o.Auth,
		readOnly: o.ReadOnly,
		ready:    o.Ready,
		degraded: o.Degraded,
		log:      o.Logger,
	}
	if h.log == nil {
		h.log = slog.Default()
	}

	e.GET("/healthz", h.healthz)
	e.HEAD("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.HEAD("/readyz", h.readyz)
	e.GET("/.well-known/jwks.json", h.jwks)
	e.HEAD("/.well-known/jwks.json", h.jwks)

	read := o.MW.Tenant(auth.RoleRead)
	write := []echo.MiddlewareFunc{o.MW.Tenant(auth.RoleWrite), h.writable}

	e.GET("/api/list", h.list, read)
	e.GET("/api/archive", h.archive, read)
	e.GET("/api/files/*", h.download, read)
	e.HEAD("/api/files/*", h.download, read)
	e.PUT("/api/files/*", h.upload, write...)
	e.DELETE("/api/files/*", h.delete, write...)
	e.POST("/api/mkdir", h.mkdir, write...)
	e.POST("/api/move", h.move, write...)
	e.GET("/api/changes", h.changes, read)
	e.GET("/api/versions", h.versions, read)
	e.GET("/api/deleted", h.deleted, read)
	e.POST("/api/restore", h.restore, write...)
	e.GET("/api/usage", h.usage, read)
	e.GET(chunksPrefix+"*", h.chunks, read)
	e.POST(deltaPrefix+"*", h.delta, write...)
	return nil
}

// writable refuses writes on a read-only server.
func (h *handlers) writable(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h.readOnly {
			return protocol.Errorf(protocol.CodeForbidden, "this server is read-only")
		}
		return next(c)
	}
}

// space returns the authenticated tenant's space as the token sees it: every route
// reaches files only through this view, which applies the token's path scope.
func (h *handlers) space(c echo.Context) (*spaceview.View, *auth.Principal, error) {
	p := authmw.PrincipalFrom(c)
	if p == nil || p.Tenant == "" {
		return nil, nil, protocol.Errorf(protocol.CodeUnauthenticated, "authentication required")
	}
	sp, err := h.reg.Space(c.Request().Context(), p.Tenant)
	if err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			// The tenant vanished after the token was verified.
			return nil, nil, protocol.Errorf(protocol.CodeUnauthenticated, "tenant no longer exists")
		}
		return nil, nil, err
	}
	if sp.ID() != p.TenantID {
		// A second wall behind auth's Check: a token of an earlier tenant of that
		// name (deleted and created again) never reaches the new one's files.
		return nil, nil, protocol.Errorf(protocol.CodeUnauthenticated, "tenant no longer exists")
	}
	return spaceview.New(sp, p.Scope), p, nil
}

func (h *handlers) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handlers) readyz(c echo.Context) error {
	if h.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := h.ready(ctx); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "not ready", slog.Any("err", err))
			return protocol.Errorf(protocol.CodeUnavailable, "not ready")
		}
	}
	if h.degraded != nil {
		if parts := h.degraded(); len(parts) > 0 {
			return c.JSON(http.StatusOK, map[string]any{"status": "ready", "degraded": parts})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (h *handlers) jwks(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", h.auth.JWKS())
}
