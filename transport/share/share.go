// Package share serves share links (SPEC §7.5) over HTTP: /api/shares for a tenant's
// writers (create, list, revoke) and /s/{id} for anyone holding a link (read-only:
// download a shared file; list, download inside and archive a shared folder).
//
// A link reaches its tenant's space only through a transport/spaceview View scoped to
// the shared path, the same wall that path-scoped tokens meet, so nothing outside the
// shared file or folder exists for it (404). Every use of a link, successful or not, is
// audited with actor "share:<tenant>:<key prefix>"; a guess (an unknown id, a wrong
// password) counts towards the failed-authentication limiter, and an address without
// credit left is refused (429) before anything is checked. Unknown, expired and
// revoked links all answer 404, and so does the archive of a file link (folders only,
// as /api/archive). Downloads and archives carry the /api headers.
package share

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/share"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/api"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/publicurl"
	"github.com/syncspace/syncspace/transport/spaceview"
)

// PasswordHeader carries a link's password.
const PasswordHeader = "X-Share-Password"

// Options are what Register needs; all but PublicURL and Logger are required.
type Options struct {
	Shares   *share.Service
	Auth     *auth.Service
	MW       *authmw.Middleware
	Registry *tenants.Registry
	// PublicURL is the root of the links' url (PUBLIC_URL; "" : the address the
	// request's connection reached, see transport/publicurl; never its Host header).
	PublicURL string
	Logger    *slog.Logger
}

type handlers struct {
	o   Options
	log *slog.Logger
}

// Register mounts /api/shares and /s on e.
func Register(e *echo.Echo, o Options) error {
	if o.Shares == nil || o.Auth == nil || o.MW == nil || o.Registry == nil {
		return errors.New("share: Shares, Auth, MW and Registry are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &handlers{o: o, log: o.Logger.With("component", "share")}
	write := o.MW.Tenant(auth.RoleWrite)
	e.POST("/api/shares", h.create, write)
	e.GET("/api/shares", h.list, write)
	e.DELETE("/api/shares/:id", h.revoke, write)
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		e.Add(m, "/s/:id", h.open)
		e.Add(m, "/s/:id/archive", h.archive)
		e.Add(m, "/s/:id/files/*", h.file)
	}
	return nil
}

// audit appends one entry; a failure to audit is logged, never hidden.
func (h *handlers) audit(c echo.Context, actor, jti, action, target string, err error) {
	e := auth.AuditEntry{Actor: actor, JTI: jti, Address: h.o.MW.ClientAddrOf(c.Request()).String(), Action: action, Target: target, Outcome: auth.OutcomeOK}
	if err != nil {
		e.Outcome = string(protocol.CodeOf(err))
	}
	if aerr := h.o.Auth.Audit(context.WithoutCancel(c.Request().Context()), e); aerr != nil {
		h.log.Error("audit write failed", "action", action, "err", aerr)
	}
}

// view returns the principal's tenant space as its token sees it.
func (h *handlers) view(c echo.Context, p *auth.Principal) (*spaceview.View, error) {
	sp, err := h.o.Registry.Space(c.Request().Context(), p.Tenant)
	if err == nil && sp.ID() != p.TenantID {
		err = protocol.Errorf(protocol.CodeUnauthenticated, "tenant no longer exists")
	}
	if err != nil {
		return nil, err
	}
	return spaceview.New(sp, p.Scope), nil
}

// createRequest is the body of POST /api/shares.
type createRequest struct {
	Path      *string `json:"path"`
	ExpiresIn string  `json:"expires_in"`
	Password  string  `json:"password,omitempty"`
}

// createAnswer is the answer of POST /api/shares.
type createAnswer struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Key       string    `json:"key"`
	Path      string    `json:"path"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *handlers) create(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	rec, id, err := h.doCreate(c, p)
	target := rec.Path
	if err == nil {
		target += " key=" + rec.Key[:16]
	}
	h.audit(c, auth.ActorOf(p), p.JTI, "share.create", target, err)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, createAnswer{ID: id, URL: h.linkURL(c, id), Key: rec.Key, Path: rec.Path, ExpiresAt: rec.ExpiresAt})
}

func (h *handlers) doCreate(c echo.Context, p *auth.Principal) (share.Record, string, error) {
	var req createRequest
	if err := api.DecodeJSON(c, &req); err != nil {
		return share.Record{}, "", err
	}
	if req.Path == nil {
		return share.Record{}, "", protocol.Errorf(protocol.CodeBadRequest, "missing field \"path\"")
	}
	path, err := pathrule.Clean(*req.Path)
	if err != nil {
		return share.Record{Path: *req.Path}, "", err
	}
	d, err := time.ParseDuration(req.ExpiresIn)
	if err != nil {
		return share.Record{Path: path}, "", protocol.Errorf(protocol.CodeBadRequest, "expires_in must be a duration such as \"72h\"")
	}
	v, err := h.view(c, p)
	if err != nil {
		return share.Record{Path: path}, "", err
	}
	meta, err := v.Stat(c.Request().Context(), path) // outside the token's paths: 404
	if err != nil {
		return share.Record{Path: path}, "", err
	}
	id, rec, err := h.o.Shares.Create(c.Request().Context(), share.NewRequest{
		Tenant: p.Tenant, TenantID: p.TenantID, Path: meta.Path, CreatedBy: p.Subject, CreatorJTI: p.JTI, ExpiresIn: d, Password: req.Password,
	})
	return rec, id, err
}

// linkURL is PUBLIC_URL/s/{id}.
func (h *handlers) linkURL(c echo.Context, id string) string {
	return publicurl.Of(c.Request(), h.o.PublicURL) + "/s/" + url.PathEscape(id)
}

func (h *handlers) list(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	rs, err := h.o.Shares.List(c.Request().Context(), p.TenantID)
	if err != nil {
		return err
	}
	out := rs[:0]
	for _, r := range rs {
		if p.Scope.Contains(r.Path) {
			out = append(out, r)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"shares": out})
}

func (h *handlers) revoke(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	id := c.Param("id")
	ctx := c.Request().Context()
	rec, err := h.o.Shares.Lookup(ctx, p.TenantID, id)
	if err == nil && !p.Scope.Contains(rec.Path) {
		err = share.ErrGone // a path-scoped token sees only links inside its paths
	}
	if err == nil {
		err = h.o.Shares.Revoke(ctx, rec.Key)
	}
	h.audit(c, auth.ActorOf(p), p.JTI, "share.revoke", auditRef(id), err)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"key": rec.Key, "revoked": true})
}

// auditRef names the link of DELETE /api/shares/{idOrKey} in the audit log as the
// store does, by its key ("key=" and its first 16 hex digits, as share.create's entry):
// the audit log is in the store, which never keeps a link's id (a bearer secret, live
// still when the revocation is refused).
func auditRef(idOrKey string) string {
	switch {
	case share.ParseID(idOrKey):
		return "key=" + share.KeyOf(idOrKey)[:16]
	case len(idOrKey) == 64 && strings.Trim(idOrKey, "0123456789abcdef") == "":
		return "key=" + idOrKey[:16]
	}
	return "key=?"
}

// errFileArchive answers GET /s/{id}/archive of a file link: SPEC §7.5 archives
// folder links only, and §3's archive of a path that is not a directory is 404.
var errFileArchive = &protocol.Error{Code: protocol.CodeNotFound, Message: "a file link has no archive: GET /s/{id} downloads the file"}

// resolve checks the limiter, then the link and its password, then that its path is
// still there (a folder, when dirOnly); every outcome is audited as it is answered.
// It returns the record, the link's view of its tenant's space and the shared path's
// metadata.
func (h *handlers) resolve(c echo.Context, use string, dirOnly bool) (share.Record, *spaceview.View, protocol.Metadata, error) {
	rec, actor, err := h.lookup(c, use)
	if err != nil {
		return share.Record{}, nil, protocol.Metadata{}, err
	}
	v, meta, err := h.reach(c.Request().Context(), rec, dirOnly)
	h.audit(c, actor, "", "share."+use, rec.Path, err)
	if err != nil {
		return share.Record{}, nil, protocol.Metadata{}, err
	}
	return rec, v, meta, nil
}

// lookup checks the limiter, then the link and its password, auditing a refusal. It
// returns the live record and the actor that names the link in the audit log.
func (h *handlers) lookup(c echo.Context, use string) (share.Record, string, error) {
	r := c.Request()
	id := c.Param("id")
	actor := "share:?"
	if share.ParseID(id) {
		actor = "share:?:" + share.KeyOf(id)[:16]
	}
	if err := h.o.MW.GuessAllowed(r); err != nil {
		h.auditRefusal(c, actor, use, err)
		return share.Record{}, "", err
	}
	rec, err := h.o.Shares.Resolve(r.Context(), id, r.Header.Get(PasswordHeader))
	if err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotFound || protocol.CodeOf(err) == protocol.CodeUnauthenticated {
			if lerr := h.o.MW.GuessFailed(r); lerr != nil {
				err = lerr
			}
		}
		h.auditRefusal(c, actor, use, err)
		return share.Record{}, "", err
	}
	return rec, "share:" + rec.Tenant + ":" + rec.Key[:16], nil
}

// reach opens the link's view of its tenant's space and stats the shared path: a
// deleted tenant is share.ErrGone, a file when dirOnly errFileArchive.
func (h *handlers) reach(ctx context.Context, rec share.Record, dirOnly bool) (*spaceview.View, protocol.Metadata, error) {
	sp, err := h.o.Registry.Space(ctx, rec.Tenant)
	if err == nil && sp.ID() != rec.TenantID {
		err = share.ErrGone // the tenant was deleted (and perhaps created again)
	}
	if protocol.CodeOf(err) == protocol.CodeNotFound {
		err = share.ErrGone
	}
	if err != nil {
		return nil, protocol.Metadata{}, err
	}
	scope, err := pathscope.Parse([]string{rec.Path})
	if err != nil {
		return nil, protocol.Metadata{}, err
	}
	v := spaceview.New(sp, scope)
	meta, err := v.Stat(ctx, rec.Path)
	if err == nil && dirOnly && !meta.IsDirectory {
		err = errFileArchive
	}
	return v, meta, err
}

// auditRefusal audits a refused use of a link; a refusal for the address having no
// failed-guess credit left only once a second per address (the audit log is
// append-only: a client guessing at line rate must not grow it at that rate).
func (h *handlers) auditRefusal(c echo.Context, actor, use string, err error) {
	if protocol.CodeOf(err) == protocol.CodeRateLimited && !h.o.MW.LimitedAuditAllowed(c.Request()) {
		return
	}
	h.audit(c, actor, "", "share."+use, "", err)
}

// open serves GET /s/{id}: the file, or the folder's listing (?recursive=true, read as
// /api/list reads it).
func (h *handlers) open(c echo.Context) error {
	rec, v, meta, err := h.resolve(c, "open", false)
	if err != nil {
		return err
	}
	if !meta.IsDirectory {
		return api.ServeFile(c, v, rec.Path)
	}
	recursive, err := guard.Bool(c, "recursive")
	if err != nil {
		return err
	}
	return api.ServeList(c, v, rec.Path, recursive)
}

// file serves GET /s/{id}/files/{path}: a file inside a shared folder, by its full
// path (as the listing names it).
func (h *handlers) file(c echo.Context) error {
	p, err := filesPath(c.Request().URL.Path, c.Param("id"))
	if err != nil {
		return err
	}
	_, v, _, err := h.resolve(c, "file", false)
	if err != nil {
		return err
	}
	return api.ServeFile(c, v, p)
}

// archive serves GET /s/{id}/archive: the tar of a shared folder. A file link has no
// archive (SPEC §7.5 archives folders only): 404 errFileArchive, audited as such, and
// not counted as a guess (the link itself is good).
func (h *handlers) archive(c echo.Context) error {
	rec, v, _, err := h.resolve(c, "archive", true)
	if err != nil {
		return err
	}
	return api.ServeArchive(c, v, rec.Path, h.log)
}

// filesPath is the file path of a /s/{id}/files/{path} URL path (decoded once by
// net/http), cleaned by the path rules; the link's scope is checked by its view.
func filesPath(urlPath, id string) (string, error) {
	raw, ok := strings.CutPrefix(urlPath, "/s/"+id+"/files/")
	if !ok {
		return "", protocol.Errorf(protocol.CodeNotFound, "no such file")
	}
	return pathrule.Clean(raw)
}
