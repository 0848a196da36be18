package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/spaceview"
)

// listHead is the opening of a list answer; entries follow one by one.
type listHead struct {
	Epoch string `json:"epoch"`
	Seq   int64  `json:"seq"`
}

// list serves GET /api/list?path=DIR&recursive=true. The answer is streamed from one
// snapshot of the index: the head once the snapshot is taken, then each entry as the
// store yields it; nothing is built whole in memory. The store reads the snapshot in
// short transactions, never while this handler writes, and a client that accepts
// nothing for limits.stream_stall ends the answer (transport/guard's write deadline).
func (h *handlers) list(c echo.Context) error {
	dir, err := dirQuery(c)
	if err != nil {
		return err
	}
	recursive, err := guard.Bool(c, "recursive")
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	return ServeList(c, sp, dir, recursive)
}

// ServeList streams the SPEC §3 listing of dir in sp. Share links use it too.
func ServeList(c echo.Context, sp *spaceview.View, dir string, recursive bool) error {
	out := entriesStream{resp: c.Response()}
	err := sp.List(c.Request().Context(), dir, recursive,
		func(epoch string, seq int64) error {
			head, err := json.Marshal(listHead{Epoch: epoch, Seq: seq})
			if err != nil {
				return err
			}
			return out.open(head[:len(head)-1]) // {"epoch":..,"seq":..
		},
		func(m protocol.Metadata) error { return out.entry(m) })
	if err != nil {
		// After the head, the answer stays truncated and httperr only logs the error.
		return err
	}
	if !out.opened() {
		return protocol.Errorf(protocol.CodeInternal, "list produced no snapshot")
	}
	return out.close()
}

// pathBody is the body of POST /api/mkdir.
type pathBody struct {
	Path *string `json:"path"`
}

// requiredPath cleans a required path field of a JSON body: absent is bad_request
// (a missing field), present but breaking the path rules is invalid_path.
func requiredPath(name string, v *string) (string, error) {
	if v == nil {
		return "", protocol.Errorf(protocol.CodeBadRequest, "missing field %q", name)
	}
	return pathrule.Clean(*v)
}

func (h *handlers) mkdir(c echo.Context) error {
	var b pathBody
	if err := decodeJSON(c.Request(), c.Response(), &b); err != nil {
		return err
	}
	p, err := requiredPath("path", b.Path)
	if err != nil {
		return err
	}
	clientID, err := parseClientID(c.Request().Header)
	if err != nil {
		return err
	}
	sp, principal, err := h.space(c)
	if err != nil {
		return err
	}
	meta, created, err := sp.Mkdir(c.Request().Context(), p, source(clientID, principal))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, meta)
}

// moveBody is the body of POST /api/move.
type moveBody struct {
	From    *string `json:"from"`
	To      *string `json:"to"`
	IfMatch string  `json:"if_match"`
}

func (h *handlers) move(c echo.Context) error {
	var b moveBody
	if err := decodeJSON(c.Request(), c.Response(), &b); err != nil {
		return err
	}
	from, err := requiredPath("from", b.From)
	if err != nil {
		return err
	}
	to, err := requiredPath("to", b.To)
	if err != nil {
		return err
	}
	var ifMatch string
	if b.IfMatch != "" {
		if ifMatch, err = parseETag(b.IfMatch); err != nil {
			return err
		}
	}
	clientID, err := parseClientID(c.Request().Header)
	if err != nil {
		return err
	}
	sp, principal, err := h.space(c)
	if err != nil {
		return err
	}
	meta, err := sp.Move(c.Request().Context(), from, to, ifMatch, source(clientID, principal))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, meta)
}

// changes serves GET /api/changes?since=N&epoch=E&limit=M.
func (h *handlers) changes(c echo.Context) error {
	since, err := parseInt(c, "since", 0)
	if err != nil {
		return err
	}
	epoch, err := epochParam(c)
	if err != nil {
		return err
	}
	limit, err := changesLimit(c)
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	page, err := sp.Changes(c.Request().Context(), since, epoch, limit)
	if err != nil {
		return err
	}
	if page.Events == nil {
		page.Events = []protocol.Event{}
	}
	return c.JSON(http.StatusOK, page)
}

// versionsAnswer is the body of GET /api/versions.
type versionsAnswer struct {
	Path     string             `json:"path"`
	Versions []protocol.Version `json:"versions"`
}

func (h *handlers) versions(c echo.Context) error {
	raw, err := guard.Param(c, "path")
	if err != nil {
		return err
	}
	p, err := pathrule.Clean(raw)
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	vs, err := sp.Versions(c.Request().Context(), p)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []protocol.Version{}
	}
	return c.JSON(http.StatusOK, versionsAnswer{Path: p, Versions: vs})
}

// deleted serves GET /api/deleted?path=DIR: {"path","entries":[...]}, streamed as the
// store yields the entries (a page of the index at a time, tenants.Space.Deleted),
// never built whole in memory. The head is written with the first entry (or at the
// end), so an error before any entry is still an error answer; one after it leaves
// the answer truncated, as a list's (ServeList).
func (h *handlers) deleted(c echo.Context) error {
	dir, err := dirQuery(c)
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	out := entriesStream{resp: c.Response()}
	start := func() error {
		p, err := json.Marshal(dir)
		if err != nil {
			return err
		}
		return out.open(append([]byte(`{"path":`), p...))
	}
	err = sp.Deleted(c.Request().Context(), dir, func(e tenants.DeletedEntry) error {
		if !out.opened() {
			if err := start(); err != nil {
				return err
			}
		}
		return out.entry(e)
	})
	if err != nil {
		return err
	}
	if !out.opened() {
		if err := start(); err != nil {
			return err
		}
	}
	return out.close()
}

// restoreBody is the body of POST /api/restore.
type restoreBody struct {
	Path    *string `json:"path"`
	Version string  `json:"version"`
	To      string  `json:"to"`
}

func (h *handlers) restore(c echo.Context) error {
	var b restoreBody
	if err := decodeJSON(c.Request(), c.Response(), &b); err != nil {
		return err
	}
	p, err := requiredPath("path", b.Path)
	if err != nil {
		return err
	}
	to := ""
	if b.To != "" {
		if to, err = pathrule.Clean(b.To); err != nil {
			return err
		}
	}
	if b.Version == "" || len(b.Version) > 256 {
		return protocol.Errorf(protocol.CodeBadRequest, "version is required")
	}
	clientID, err := parseClientID(c.Request().Header)
	if err != nil {
		return err
	}
	sp, principal, err := h.space(c)
	if err != nil {
		return err
	}
	meta, err := sp.Restore(c.Request().Context(), p, b.Version, to, source(clientID, principal))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, meta)
}

// epochParam reads the epoch parameter of /api/changes: "" when absent (no check).
// Given, it must name an epoch: an empty epoch= (a script's unset variable) is
// bad_request, never read as "no epoch", which would page through another epoch's
// history with a seq of this one instead of answering 410.
func epochParam(c echo.Context) (string, error) {
	v, has, err := guard.Single(c, "epoch")
	if err == nil && has && v == "" {
		err = protocol.Errorf(protocol.CodeBadRequest, "parameter epoch must not be empty (leave it out to read without an epoch check)")
	}
	return v, err
}

// changesLimit reads the limit parameter of /api/changes: absent, empty or 0 is
// protocol.DefaultChangesLimit; above protocol.MaxChangesLimit (however many digits)
// it is clamped to it (SPEC §3, `more` tells the rest); anything but digits is
// bad_request.
func changesLimit(c echo.Context) (int, error) {
	raw, err := guard.Param(c, "limit")
	if err != nil || raw == "" {
		return protocol.DefaultChangesLimit, err
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return 0, protocol.Errorf(protocol.CodeBadRequest, "parameter limit must be a non-negative integer")
		}
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	switch {
	case err != nil || n > protocol.MaxChangesLimit: // only digits: err is an overflow
		return protocol.MaxChangesLimit, nil
	case n == 0:
		return protocol.DefaultChangesLimit, nil
	}
	return int(n), nil
}

// usageAnswer is the body of GET /api/usage: quota and max_entries are null when
// unlimited (SPEC §3), never 0.
type usageAnswer struct {
	Used       int64  `json:"used"`
	Quota      *int64 `json:"quota"`
	Entries    int64  `json:"entries"`
	MaxEntries *int64 `json:"max_entries"`
}

// newUsageAnswer maps a protocol.Usage, where zero means unlimited, to the answer.
func newUsageAnswer(u protocol.Usage) usageAnswer {
	limit := func(v int64) *int64 {
		if v <= 0 {
			return nil
		}
		return &v
	}
	return usageAnswer{Used: u.Used, Quota: limit(u.Quota), Entries: u.Entries, MaxEntries: limit(u.MaxEntries)}
}

func (h *handlers) usage(c echo.Context) error {
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	u, err := sp.Usage(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newUsageAnswer(u))
}
