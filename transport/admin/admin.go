// Package admin serves syncd's admin API (SPEC §3) for ops tokens: tenants, tokens,
// revocations, signing keys, live WebSocket connections and the audit log. Every
// request is appended to the audit log with the ops subject, token jti and client
// address. The server mounts it at /admin on the main listener only when that is a
// loopback address, else only on admin_listen.
//
// Routes (relative to the group):
//
//	GET    /tenants                      {"tenants":[tenant]}
//	POST   /tenants                      {"name","quota"?,"max_file_size"?,"max_entries"?} → 201 tenant
//	DELETE /tenants/{name}               {"name","deleted":true}
//	POST   /tokens                       {"tenant","subject","role","ttl"?} → 201 {"token","jti","expires_at"}
//	GET    /tokens?tenant=&ops=&subject=&all=   {"tokens":[record]}
//	DELETE /tokens/{jti}                 {"jti","revoked":true}
//	POST   /revocations                  {"tenant","subject"} or {"ops":true,"subject"} → {"revoked":n}
//	POST   /keys/rotate                  201 key
//	GET    /keys                         {"keys":[key]}
//	POST   /keys/{kid}/retire            {"kid","retired":true}
//	GET    /connections                  {"connections":[...]}
//	DELETE /connections/{id}             {"id","disconnected":true}
//	GET    /audit?limit=N                {"entries":[entry]} (oldest first, newest N)
//
// Sizes (quota, max_file_size) are a number of bytes or a string such as "10GiB"; ttl is
// a Go duration string ("720h") or a number of seconds. Request bodies are JSON objects
// of at most 64 KiB with no unknown fields. Answers on /tokens carry
// Cache-Control: no-store.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/httperr"
)

// Tenants is the part of *tenants.Registry the admin API uses.
type Tenants interface {
	Create(ctx context.Context, name string, o tenants.Options) (tenants.Tenant, error)
	List(ctx context.Context) ([]tenants.Tenant, error)
	Delete(ctx context.Context, name string) error
}

var _ Tenants = (*tenants.Registry)(nil)

// Options are what Register needs. Auth and Tenants are required. MW, when set, is
// applied to the group (Ops: an ops token); leave it nil only if the group already
// carries mw.Ops(). ListConnections and Disconnect plug /connections into the
// WebSocket hub (for example func() any { return h.Connections() } and h.Disconnect);
// nil means no hub: the list is empty and every id is not_found. DefaultTTL is the
// ttl of POST /tokens without one (zero: 720h, capped by auth.max_ttl). ParseSize
// reads a size given as a string ("10GiB"); syncd passes config.ParseSize, so that the
// admin API and the config file read sizes alike; nil refuses sizes given as strings.
type Options struct {
	Auth            *auth.Service
	Tenants         Tenants
	ParseSize       func(string) (int64, error)
	MW              *authmw.Middleware
	ListConnections func() any
	Disconnect      func(id string) bool
	DefaultTTL      time.Duration
	// PublicURL is PUBLIC_URL (web.public_url, or the URL syncd derived for the main
	// listener), named as public_url in the answer of POST /devices (the server a
	// device credential names): syncctl talks to admin_listen, which is not where
	// devices reach the server. "": the answer names none.
	PublicURL string
	Logger    *slog.Logger
}

// DefaultTokenTTL is the ttl of a token issued without one.
const DefaultTokenTTL = 720 * time.Hour

// MaxBody bounds an admin request body.
const MaxBody = 64 << 10

type handlers struct {
	o   Options
	log *slog.Logger
}

// Register mounts the admin routes on g.
func Register(g *echo.Group, o Options) error {
	if o.Auth == nil || o.Tenants == nil {
		return errors.New("admin: Auth and Tenants are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = DefaultTokenTTL
	}
	h := &handlers{o: o, log: o.Logger.With("component", "admin")}
	var mws []echo.MiddlewareFunc
	if o.MW != nil {
		mws = append(mws, o.MW.Ops())
	}
	mws = append(mws, requireOps, noStoreTokens)
	g.GET("/tenants", h.listTenants, mws...)
	g.POST("/tenants", h.createTenant, mws...)
	g.DELETE("/tenants/:name", h.deleteTenant, mws...)
	g.POST("/tokens", h.issueToken, mws...)
	g.GET("/tokens", h.listTokens, mws...)
	g.DELETE("/tokens/:jti", h.revokeToken, mws...)
	g.POST("/revocations", h.revokeSubject, mws...)
	g.POST("/keys/rotate", h.rotateKey, mws...)
	g.GET("/keys", h.listKeys, mws...)
	g.POST("/keys/:kid/retire", h.retireKey, mws...)
	g.GET("/connections", h.listConnections, mws...)
	g.DELETE("/connections/:id", h.disconnect, mws...)
	g.GET("/audit", h.listAudit, mws...)
	h.registerDevices(g, mws)
	return nil
}

// requireOps refuses a request that reached the handlers without an ops principal
// (defence in depth against a mount without the Ops middleware).
func requireOps(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := authmw.PrincipalFrom(c); p == nil || !p.Can(auth.RoleOps) {
			return httperr.Write(c, protocol.Errorf(protocol.CodeUnauthenticated, "ops token required"))
		}
		return next(c)
	}
}

// noStoreTokens marks every /tokens answer (which may carry a token) no-store.
func noStoreTokens(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if strings.Contains(c.Path(), "/tokens") {
			c.Response().Header().Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// done audits the action and writes the answer (or the error).
func (h *handlers) done(c echo.Context, action, target string, err error, status int, body any) error {
	p := authmw.PrincipalFrom(c)
	e := auth.AuditEntry{
		Actor:   auth.OpsActor(p),
		Address: authmw.ClientAddr(c).String(),
		Action:  action,
		Target:  target,
		Outcome: auth.OutcomeOK,
	}
	if p != nil {
		e.JTI = p.JTI
	}
	if err != nil {
		e.Outcome = string(protocol.CodeOf(err))
	}
	if aerr := h.o.Auth.Audit(context.WithoutCancel(c.Request().Context()), e); aerr != nil {
		h.log.Error("audit write failed", "action", action, "err", aerr)
		if err == nil {
			// The action happened but could not be audited: say so rather than hide it.
			h.log.Error("admin action not audited", "action", action, "target", target)
		}
	}
	if err != nil {
		return httperr.Write(c, err)
	}
	return c.JSON(status, body)
}

// decodeJSON reads one JSON object of at most MaxBody bytes with no unknown fields.
// Content-Type is not checked, as on /api: the body must be JSON whatever it says
// (`curl -d` sends application/x-www-form-urlencoded), and a browser form cannot
// carry the bearer token, so the type guards nothing.
func decodeJSON(c echo.Context, v any) error {
	r := c.Request()
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return protocol.Errorf(protocol.CodeUnsupportedMedia, "content encoding %q not supported", enc)
	}
	if r.ContentLength > MaxBody {
		return protocol.Errorf(protocol.CodeTooLarge, "request body over %d bytes", MaxBody)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		if errors.Is(err, guard.ErrSlowBody) {
			return guard.ErrSlowBody
		}
		return protocol.Errorf(protocol.CodeBadRequest, "could not read request body")
	}
	if len(data) > MaxBody {
		return protocol.Errorf(protocol.CodeTooLarge, "request body over %d bytes", MaxBody)
	}
	return DecodeBody(data, v)
}

// DecodeBody decodes data as exactly one JSON object into v, refusing unknown fields
// and trailing data; errors are bad_request naming the field at fault when known.
func DecodeBody(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return protocol.Errorf(protocol.CodeBadRequest, "field %s: wrong type", te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return protocol.Errorf(protocol.CodeBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case errors.Is(err, io.EOF):
			return protocol.Errorf(protocol.CodeBadRequest, "request body must be a JSON object")
		}
		return protocol.Errorf(protocol.CodeBadRequest, "request body is not valid JSON")
	}
	if dec.More() {
		return protocol.Errorf(protocol.CodeBadRequest, "trailing data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return protocol.Errorf(protocol.CodeBadRequest, "trailing data after the JSON object")
	}
	return nil
}

// parseSize reads a byte count given as a JSON number or a string such as "10GiB".
func (h *handlers) parseSize(raw json.RawMessage, field string) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v < 0 {
			return 0, protocol.Errorf(protocol.CodeBadRequest, "field %s: must be a non-negative whole number of bytes", field)
		}
		return v, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "field %s: must be a number or a string such as \"10GiB\"", field)
	}
	if h.o.ParseSize == nil {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "field %s: must be a whole number of bytes", field)
	}
	v, err := h.o.ParseSize(str)
	if err != nil {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "field %s: %v", field, err)
	}
	return v, nil
}

// ParseTTL reads a token lifetime given as a JSON string Go duration ("720h") or a
// JSON number of seconds.
func ParseTTL(raw json.RawMessage) (time.Duration, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v <= 0 || v > math.MaxInt64/int64(time.Second) {
			return 0, protocol.Errorf(protocol.CodeBadRequest, "field ttl: must be a positive whole number of seconds")
		}
		return time.Duration(v) * time.Second, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "field ttl: must be a duration such as \"720h\"")
	}
	d, err := time.ParseDuration(str)
	if err != nil || d <= 0 {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "field ttl: must be a positive duration such as \"720h\"")
	}
	return d, nil
}

func (h *handlers) listTenants(c echo.Context) error {
	ts, err := h.o.Tenants.List(c.Request().Context())
	if ts == nil {
		ts = []tenants.Tenant{}
	}
	return h.done(c, "tenant.list", "", err, http.StatusOK, map[string]any{"tenants": ts})
}

// CreateTenantRequest is the body of POST /tenants.
type CreateTenantRequest struct {
	Name        string          `json:"name"`
	Quota       json.RawMessage `json:"quota,omitempty"`
	MaxFileSize json.RawMessage `json:"max_file_size,omitempty"`
	MaxEntries  *int64          `json:"max_entries,omitempty"`
}

func (h *handlers) createTenant(c echo.Context) error {
	var req CreateTenantRequest
	if err := decodeJSON(c, &req); err != nil {
		return h.done(c, "tenant.create", "", err, 0, nil)
	}
	var o tenants.Options
	var err error
	if len(req.Quota) > 0 && string(req.Quota) != "null" {
		if o.Quota, err = h.parseSize(req.Quota, "quota"); err != nil {
			return h.done(c, "tenant.create", clipTarget(req.Name), err, 0, nil)
		}
	}
	if len(req.MaxFileSize) > 0 && string(req.MaxFileSize) != "null" {
		if o.MaxFileSize, err = h.parseSize(req.MaxFileSize, "max_file_size"); err != nil {
			return h.done(c, "tenant.create", clipTarget(req.Name), err, 0, nil)
		}
	}
	if req.MaxEntries != nil {
		if *req.MaxEntries < 0 {
			return h.done(c, "tenant.create", req.Name, protocol.Errorf(protocol.CodeBadRequest, "field max_entries: must not be negative"), 0, nil)
		}
		o.MaxEntries = *req.MaxEntries
	}
	if !tenants.ValidName(req.Name) {
		return h.done(c, "tenant.create", clipTarget(req.Name), protocol.Errorf(protocol.CodeBadRequest, "field name: must match ^[a-z0-9][a-z0-9-]{0,62}$"), 0, nil)
	}
	t, err := h.o.Tenants.Create(c.Request().Context(), req.Name, o)
	return h.done(c, "tenant.create", req.Name, err, http.StatusCreated, t)
}

func (h *handlers) deleteTenant(c echo.Context) error {
	name := c.Param("name")
	if !tenants.ValidName(name) {
		return h.done(c, "tenant.delete", clipTarget(name), protocol.Errorf(protocol.CodeNotFound, "no such tenant"), 0, nil)
	}
	err := h.o.Tenants.Delete(c.Request().Context(), name)
	return h.done(c, "tenant.delete", name, err, http.StatusOK, map[string]any{"name": name, "deleted": true})
}

// IssueTokenRequest is the body of POST /tokens.
type IssueTokenRequest struct {
	Tenant  string          `json:"tenant"`
	Subject string          `json:"subject"`
	Role    string          `json:"role"`
	TTL     json.RawMessage `json:"ttl,omitempty"`
	// Paths limits the token to these subtrees (the paths claim); none means the
	// whole tenant.
	Paths []string `json:"paths,omitempty"`
}

// IssueTokenResponse is the answer of POST /tokens: exactly SPEC §3's keys.
type IssueTokenResponse struct {
	Token     string    `json:"token"`
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *handlers) issueToken(c echo.Context) error {
	var req IssueTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return h.done(c, "token.issue", "", err, 0, nil)
	}
	target := clipTarget(req.Tenant + "/" + req.Subject)
	if req.Tenant == "" || req.Subject == "" || req.Role == "" {
		return h.done(c, "token.issue", target, protocol.Errorf(protocol.CodeBadRequest, "fields tenant, subject and role are required"), 0, nil)
	}
	ttl := min(h.o.DefaultTTL, h.o.Auth.MaxTTL())
	if len(req.TTL) > 0 && string(req.TTL) != "null" {
		var err error
		if ttl, err = ParseTTL(req.TTL); err != nil {
			return h.done(c, "token.issue", target, err, 0, nil)
		}
	}
	tok, rec, err := h.o.Auth.IssueTenant(c.Request().Context(), auth.TenantTokenRequest{Tenant: req.Tenant, Subject: req.Subject, Role: req.Role, TTL: ttl, Paths: req.Paths})
	if err == nil {
		target += " jti=" + rec.JTI
	}
	return h.done(c, "token.issue", target, err, http.StatusCreated, IssueTokenResponse{Token: tok, JTI: rec.JTI, ExpiresAt: rec.ExpiresAt})
}

func (h *handlers) listTokens(c echo.Context) error {
	f, err := tokenFilter(c)
	var recs []auth.TokenRecord
	if err == nil {
		recs, err = h.o.Auth.ListTokens(c.Request().Context(), f)
	}
	target := f.Tenant
	if f.Ops {
		target = auth.OpsTarget
	}
	return h.done(c, "token.list", target, err, http.StatusOK, map[string]any{"tokens": recs})
}

// tokenFilter reads GET /tokens' query: tenant, subject, ops and all, each at most once.
func tokenFilter(c echo.Context) (auth.TokenFilter, error) {
	var f auth.TokenFilter
	var ops, all string
	var err error
	for _, p := range []struct {
		name string
		dst  *string
	}{{"tenant", &f.Tenant}, {"subject", &f.Subject}, {"ops", &ops}, {"all", &all}} {
		if *p.dst, err = guard.Param(c, p.name); err != nil {
			return f, err
		}
	}
	if f.Ops, err = boolParam(ops, "ops"); err != nil {
		return f, err
	}
	f.IncludeExpired, err = boolParam(all, "all")
	return f, err
}

func boolParam(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, protocol.Errorf(protocol.CodeBadRequest, "query parameter %s: want true or false", name)
	}
	return b, nil
}

func (h *handlers) revokeToken(c echo.Context) error {
	jti := c.Param("jti")
	target := jti
	if r, err := h.o.Auth.GetToken(c.Request().Context(), jti); err == nil {
		target = auth.TokenTarget(r)
	}
	err := h.o.Auth.RevokeJTI(c.Request().Context(), jti)
	return h.done(c, "token.revoke", clipTarget(target), err, http.StatusOK, map[string]any{"jti": jti, "revoked": true})
}

// RevokeRequest is the body of POST /revocations: the tokens Subject holds now on
// Tenant, or its ops tokens when Ops is true.
type RevokeRequest struct {
	Tenant  string `json:"tenant"`
	Subject string `json:"subject"`
	Ops     bool   `json:"ops,omitempty"`
}

func (h *handlers) revokeSubject(c echo.Context) error {
	var req RevokeRequest
	if err := decodeJSON(c, &req); err != nil {
		return h.done(c, "token.revoke_subject", "", err, 0, nil)
	}
	target := clipTarget(req.Tenant + "/" + req.Subject)
	switch {
	case req.Subject == "":
		return h.done(c, "token.revoke_subject", target, protocol.Errorf(protocol.CodeBadRequest, "field subject is required"), 0, nil)
	case req.Ops && req.Tenant != "":
		return h.done(c, "token.revoke_subject", target, protocol.Errorf(protocol.CodeBadRequest, "give either tenant or ops, not both"), 0, nil)
	case !req.Ops && req.Tenant == "":
		return h.done(c, "token.revoke_subject", target, protocol.Errorf(protocol.CodeBadRequest, "field tenant is required (or ops: true)"), 0, nil)
	}
	if req.Ops {
		target = auth.OpsTarget + "/" + req.Subject
	}
	n, err := h.o.Auth.RevokeSubject(c.Request().Context(), req.Tenant, req.Subject)
	return h.done(c, "token.revoke_subject", clipTarget(target), err, http.StatusOK, map[string]any{"revoked": n})
}

func (h *handlers) rotateKey(c echo.Context) error {
	k, err := h.o.Auth.RotateKey(c.Request().Context())
	return h.done(c, "key.rotate", k.KID, err, http.StatusCreated, k)
}

func (h *handlers) listKeys(c echo.Context) error {
	ks, err := h.o.Auth.ListKeys(c.Request().Context())
	return h.done(c, "key.list", "", err, http.StatusOK, map[string]any{"keys": ks})
}

func (h *handlers) retireKey(c echo.Context) error {
	kid := c.Param("kid")
	err := h.o.Auth.RetireKey(c.Request().Context(), kid)
	return h.done(c, "key.retire", clipTarget(kid), err, http.StatusOK, map[string]any{"kid": kid, "retired": true})
}

func (h *handlers) listConnections(c echo.Context) error {
	var list any = []struct{}{}
	if h.o.ListConnections != nil {
		list = h.o.ListConnections()
	}
	return h.done(c, "connection.list", "", nil, http.StatusOK, map[string]any{"connections": list})
}

func (h *handlers) disconnect(c echo.Context) error {
	id := c.Param("id")
	var err error
	if h.o.Disconnect == nil || !h.o.Disconnect(id) {
		err = protocol.Errorf(protocol.CodeNotFound, "no such connection")
	}
	return h.done(c, "connection.disconnect", clipTarget(id), err, http.StatusOK, map[string]any{"id": id, "disconnected": true})
}

// MaxAuditList bounds GET /audit; DefaultAuditList is its default.
const (
	MaxAuditList     = 10000
	DefaultAuditList = 1000
)

func (h *handlers) listAudit(c echo.Context) error {
	limit, err := AuditLimit(c)
	var es []auth.AuditEntry
	if err == nil {
		es, err = h.o.Auth.ListAudit(c.Request().Context(), limit)
	}
	return h.done(c, "audit.list", "", err, http.StatusOK, map[string]any{"entries": es})
}

// AuditLimit reads the limit parameter of an audit listing (here and on
// /api/team/audit): DefaultAuditList when absent, at most MaxAuditList; not a
// positive number, or given twice, is bad_request.
func AuditLimit(c echo.Context) (int, error) {
	v, err := guard.Param(c, "limit")
	if err != nil || v == "" {
		return DefaultAuditList, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "query parameter limit: want a positive number")
	}
	return min(n, MaxAuditList), nil
}

// publicURL is Options.PublicURL without a trailing slash.
func (h *handlers) publicURL() string { return strings.TrimRight(h.o.PublicURL, "/") }

func clipTarget(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%s…", s[:200])
	}
	return s
}
