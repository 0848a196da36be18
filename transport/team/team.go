// Package team serves /api/team/: a tenant's own administration by its admin tokens
// (role admin), without ops. An admin lists its tenant's tokens (never a secret),
// issues tokens for any subject of its tenant (read or write; admin only up to its own
// expiry; within its own paths when it is path-scoped), revokes a token or a subject,
// and reads its tenant's audit log. The tenant is always the token's: no route takes a
// tenant, so nothing here reaches another tenant, ops tokens, keys or quotas (those
// stay on /admin). Every action, refused ones included, is audited with the admin's
// subject ("tenant:<tenant>:<subject>").
//
// Routes:
//
//	GET    /api/team/tokens            {"tokens":[record]}
//	POST   /api/team/tokens            {"subject","role","ttl"?,"paths"?} → 201 {"token","jti","expires_at"}
//	DELETE /api/team/tokens/{jti}      {"jti","revoked":true}
//	POST   /api/team/tokens            {"subject","role","device"} → 201 device credential JSON
//	POST   /api/team/revocations       {"subject"} or {"device"} → {"revoked":n}
//	GET    /api/team/devices           {"devices":[record]}
//	GET    /api/team/audit?limit=N     {"entries":[entry]}
package team

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/admin"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/httperr"
)

// Options are what Register needs; Auth and MW are required.
type Options struct {
	Auth *auth.Service
	MW   *authmw.Middleware
	// DefaultTTL is the ttl of a token issued without one (zero: 720h), capped by
	// auth.max_ttl and, for an admin token, by the issuer's own expiry.
	DefaultTTL time.Duration
	// PublicURL is the server URL written into device credentials (PUBLIC_URL; "" :
	// the address the request's connection reached, see transport/publicurl; never
	// its Host header).
	PublicURL string
	Logger    *slog.Logger
}

type handlers struct {
	o   Options
	log *slog.Logger
	now func() time.Time
}

// Register mounts the /api/team routes on e.
func Register(e *echo.Echo, o Options) error {
	if o.Auth == nil || o.MW == nil {
		return errors.New("team: Auth and MW are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = admin.DefaultTokenTTL
	}
	h := &handlers{o: o, log: o.Logger.With("component", "team"), now: time.Now}
	mw := []echo.MiddlewareFunc{o.MW.Tenant(auth.RoleAdmin), requireAdmin, noStore}
	e.GET("/api/team/tokens", h.listTokens, mw...)
	e.POST("/api/team/tokens", h.issueToken, mw...)
	e.DELETE("/api/team/tokens/:jti", h.revokeToken, mw...)
	e.POST("/api/team/revocations", h.revokeSubject, mw...)
	e.GET("/api/team/devices", h.listDevices, mw...)
	e.GET("/api/team/audit", h.listAudit, mw...)
	return nil
}

// requireAdmin refuses a request without a tenant admin principal (defence in depth
// against a mount without the Tenant(RoleAdmin) middleware).
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := authmw.PrincipalFrom(c); p == nil || p.Kind != auth.KindTenant || !p.Can(auth.RoleAdmin) {
			return httperr.Write(c, protocol.Errorf(protocol.CodeForbidden, "a tenant admin token is required"))
		}
		return next(c)
	}
}

// noStore marks every answer no-store: they list or carry tokens.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// done audits the action with the admin as actor and writes the answer (or error).
func (h *handlers) done(c echo.Context, action, target string, err error, status int, body any) error {
	p := authmw.PrincipalFrom(c)
	e := auth.AuditEntry{
		Actor:   auth.ActorOf(p),
		JTI:     p.JTI,
		Address: authmw.ClientAddr(c).String(),
		Action:  "team." + action,
		Target:  target,
		Outcome: auth.OutcomeOK,
	}
	if err != nil {
		e.Outcome = string(protocol.CodeOf(err))
	}
	if aerr := h.o.Auth.Audit(context.WithoutCancel(c.Request().Context()), e); aerr != nil {
		h.log.Error("audit write failed", "action", e.Action, "err", aerr)
	}
	if err != nil {
		return httperr.Write(c, err)
	}
	return c.JSON(status, body)
}

func (h *handlers) listTokens(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	recs, err := h.o.Auth.ListTokens(c.Request().Context(), auth.TokenFilter{Tenant: p.Tenant})
	out := recs[:0]
	for _, r := range recs {
		if r.TenantID == p.TenantID && r.Kind == auth.KindTenant {
			out = append(out, r)
		}
	}
	return h.done(c, "token.list", p.Tenant, err, http.StatusOK, map[string]any{"tokens": out})
}

// IssueRequest is the body of POST /api/team/tokens.
type IssueRequest struct {
	Subject string          `json:"subject"`
	Role    string          `json:"role"`
	TTL     json.RawMessage `json:"ttl,omitempty"`
	Paths   []string        `json:"paths,omitempty"`
	Device  string          `json:"device,omitempty"`
}

// IssueResponse is the answer of POST /api/team/tokens.
type IssueResponse struct {
	Token     string    `json:"token"`
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expires_at"`
	Paths     []string  `json:"paths,omitempty"`
}

func (h *handlers) issueToken(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	var req IssueRequest
	if err := decodeBody(c, &req); err != nil {
		return h.done(c, "token.issue", "", err, 0, nil)
	}
	if req.Device != "" {
		return h.enrollDevice(c, p, req)
	}
	target := clip(req.Subject + " role=" + req.Role)
	r, err := h.grant(p, req)
	if err != nil {
		return h.done(c, "token.issue", target, err, 0, nil)
	}
	tok, rec, err := h.o.Auth.IssueTenant(c.Request().Context(), r)
	if err == nil {
		target += " jti=" + rec.JTI
		if len(rec.Paths) > 0 {
			target += " paths=" + strings.Join(rec.Paths, ",")
		}
	}
	return h.done(c, "token.issue", clip(target), err, http.StatusCreated, IssueResponse{Token: tok, JTI: rec.JTI, ExpiresAt: rec.ExpiresAt, Paths: rec.Paths})
}

// grant checks what admin p may issue and returns the request to auth: never another
// tenant (the tenant is p's), a role up to admin (admin only until p's own expiry),
// paths within p's own (p's own when none are asked and p is scoped).
func (h *handlers) grant(p *auth.Principal, req IssueRequest) (auth.TenantTokenRequest, error) {
	r := auth.TenantTokenRequest{Tenant: p.Tenant, Subject: req.Subject, Role: req.Role, Paths: req.Paths}
	switch {
	case req.Subject == "" || req.Role == "":
		return r, protocol.Errorf(protocol.CodeBadRequest, "fields subject and role are required")
	case req.Role != auth.RoleRead && req.Role != auth.RoleWrite && req.Role != auth.RoleAdmin:
		return r, protocol.Errorf(protocol.CodeForbidden, "a tenant admin issues roles read, write or admin only")
	}
	left := p.ExpiresAt.Sub(h.now()).Truncate(time.Second)
	r.TTL = min(h.o.DefaultTTL, h.o.Auth.MaxTTL())
	if req.Role == auth.RoleAdmin {
		r.TTL = min(r.TTL, left)
	}
	if len(req.TTL) > 0 && string(req.TTL) != "null" {
		ttl, err := admin.ParseTTL(req.TTL)
		if err != nil {
			return r, err
		}
		if req.Role == auth.RoleAdmin && ttl > left {
			return r, protocol.Errorf(protocol.CodeForbidden, "an admin token may not outlive the issuer's (%s left)", left)
		}
		r.TTL = ttl
	}
	want, err := pathscope.Parse(req.Paths)
	if err != nil {
		return r, err
	}
	if want == nil && p.Scope != nil {
		r.Paths = p.Scope.Paths()
		return r, nil
	}
	if !p.Scope.Covers(want) {
		return r, protocol.Errorf(protocol.CodeForbidden, "paths must lie within the issuer's own paths")
	}
	return r, nil
}

// revokeToken revokes one of the tenant's tokens; a jti of another tenant, or of an
// ops token, is not_found, as an unknown one.
func (h *handlers) revokeToken(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	jti := c.Param("jti")
	ctx := c.Request().Context()
	rec, err := h.o.Auth.GetToken(ctx, jti)
	if err == nil && (rec.Kind != auth.KindTenant || rec.Tenant != p.Tenant || rec.TenantID != p.TenantID) {
		err = protocol.Errorf(protocol.CodeNotFound, "no such token")
	}
	if err == nil {
		err = h.o.Auth.RevokeJTI(ctx, jti)
	}
	return h.done(c, "token.revoke", clip(jti), err, http.StatusOK, map[string]any{"jti": jti, "revoked": true})
}

// RevokeRequest is the body of POST /api/team/revocations.
type RevokeRequest struct {
	Subject string `json:"subject"`
	Device  string `json:"device,omitempty"`
}

func (h *handlers) revokeSubject(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	var req RevokeRequest
	if err := decodeBody(c, &req); err != nil {
		return h.done(c, "token.revoke_subject", "", err, 0, nil)
	}
	if req.Device != "" && req.Subject == "" {
		return h.revokeDevice(c, p, req.Device)
	}
	if req.Device != "" || req.Subject == "" {
		return h.done(c, "token.revoke_subject", clip(req.Subject), protocol.Errorf(protocol.CodeBadRequest, "give subject or device"), 0, nil)
	}
	n, err := h.o.Auth.RevokeSubject(c.Request().Context(), p.Tenant, req.Subject)
	return h.done(c, "token.revoke_subject", clip(req.Subject), err, http.StatusOK, map[string]any{"revoked": n})
}

// listAudit returns the newest ?limit entries of the tenant's part of the audit log
// (found among the log's newest auth.MaxAuditScan entries of every tenant): actions
// by its own tokens and share links, and ops actions on it (target "<tenant>/…" or
// the tenant itself); for a path-scoped admin, only entries naming no path outside
// its paths (namesOnlyInside).
func (h *handlers) listAudit(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	limit, err := admin.AuditLimit(c)
	var out []auth.AuditEntry
	if err == nil {
		out, err = h.o.Auth.ListAuditOf(c.Request().Context(), limit, func(e auth.AuditEntry) bool {
			return OfTenant(e, p.Tenant) && namesOnlyInside(e, p.Scope)
		})
	}
	return h.done(c, "audit.list", "", err, http.StatusOK, map[string]any{"entries": out})
}

// OfTenant reports whether audit entry e concerns tenant: made by one of its tokens
// or share links, or an ops action (through the admin API, "ops:…", or syncctl on
// the data dir, "local:…") whose target is the tenant or under it.
func OfTenant(e auth.AuditEntry, tenant string) bool {
	byOps := strings.HasPrefix(e.Actor, "ops:") || strings.HasPrefix(e.Actor, "local:")
	return strings.HasPrefix(e.Actor, "tenant:"+tenant+":") ||
		strings.HasPrefix(e.Actor, "share:"+tenant+":") ||
		byOps && (e.Target == tenant || strings.HasPrefix(e.Target, tenant+"/"))
}

// namesOnlyInside reports whether every tenant path audit entry e names lies inside
// scope (always, for a nil scope): a path-scoped admin sees nothing of what lies
// outside its paths, in its audit log as on every route. Entries naming paths: share
// actions (the shared path, before " key=") and tokens issued with paths (after
// " paths=", comma-separated). A target clipped or not parsed as expected names no
// path inside, so the entry is left out.
func namesOnlyInside(e auth.AuditEntry, scope *pathscope.Scope) bool {
	if scope == nil {
		return true
	}
	var paths []string
	switch {
	case strings.HasPrefix(e.Action, "share."):
		p := e.Target
		if i := strings.LastIndex(p, " key="); i >= 0 {
			p = p[:i]
		}
		if p != "" && !strings.HasPrefix(p, "key=") {
			paths = []string{p}
		}
	case e.Action == "team.token.issue":
		if i := strings.LastIndex(e.Target, " paths="); i >= 0 {
			paths = strings.Split(e.Target[i+len(" paths="):], ",")
		}
	}
	for _, p := range paths {
		if !scope.Contains(p) {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 200 {
		return strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// decodeBody reads one JSON object of at most admin.MaxBody bytes with no unknown
// fields (so a "tenant" field is refused, never read).
func decodeBody(c echo.Context, v any) error {
	r := c.Request()
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return protocol.Errorf(protocol.CodeUnsupportedMedia, "content encoding %q not supported", enc)
	}
	if r.ContentLength > admin.MaxBody {
		return protocol.Errorf(protocol.CodeTooLarge, "request body over %d bytes", admin.MaxBody)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, admin.MaxBody+1))
	if err != nil {
		if errors.Is(err, guard.ErrSlowBody) {
			return guard.ErrSlowBody
		}
		return protocol.Errorf(protocol.CodeBadRequest, "could not read request body")
	}
	if len(data) > admin.MaxBody {
		return protocol.Errorf(protocol.CodeTooLarge, "request body over %d bytes", admin.MaxBody)
	}
	return admin.DecodeBody(data, v)
}
