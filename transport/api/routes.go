package api

import (
	"bufio"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/pathrule"
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
// nothing for limits.stream_stall ends the answer (progressWriter).
func (h *handlers) list(c echo.Context) error {
	dir, err := dirQuery(c)
	if err != nil {
		return err
	}
	recursive, err := parseBool(c, "recursive")
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	resp := c.Response()
	var (
		pw    *progressWriter
		bw    *bufio.Writer
		enc   *json.Encoder
		first = true
	)
	err = sp.List(c.Request().Context(), dir, recursive,
		func(epoch string, seq int64) error {
			resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			resp.WriteHeader(http.StatusOK)
			pw = newProgressWriter(resp, h.reg.StreamStall())
			bw = bufio.NewWriterSize(pw, 32<<10)
			enc = json.NewEncoder(bw)
			head, err := json.Marshal(listHead{Epoch: epoch, Seq: seq})
			if err != nil {
				return err
			}
			// {"epoch":..,"seq":..  +  ,"entries":[
			bw.Write(head[:len(head)-1])
			_, err = bw.WriteString(`,"entries":[`)
			return err
		},
		func(m protocol.Metadata) error {
			if !first {
				if err := bw.WriteByte(','); err != nil {
					return err
				}
			}
			first = false
			// Encode appends a newline, which is valid JSON whitespace.
			return enc.Encode(m)
		})
	if err != nil {
		// Once the head is written the answer cannot turn into an error answer: it is
		// left truncated (invalid JSON) so that no client mistakes it for a full list,
		// and httperr only logs the error.
		return err
	}
	if bw == nil {
		return protocol.Errorf(protocol.CodeInternal, "list produced no snapshot")
	}
	if _, err := bw.WriteString("]}\n"); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return pw.finish()
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
	epoch, err := queryString(c, "epoch")
	if err != nil {
		return err
	}
	limit, err := parseInt(c, "limit", protocol.DefaultChangesLimit)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = protocol.DefaultChangesLimit
	}
	if limit > protocol.MaxChangesLimit {
		limit = protocol.MaxChangesLimit
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	page, err := sp.Changes(c.Request().Context(), since, epoch, int(limit))
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
	raw, err := queryString(c, "path")
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

// deletedAnswer is the body of GET /api/deleted.
type deletedAnswer struct {
	Path    string                 `json:"path"`
	Entries []tenants.DeletedEntry `json:"entries"`
}

func (h *handlers) deleted(c echo.Context) error {
	dir, err := dirQuery(c)
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	es, err := sp.Deleted(c.Request().Context(), dir)
	if err != nil {
		return err
	}
	if es == nil {
		es = []tenants.DeletedEntry{}
	}
	return c.JSON(http.StatusOK, deletedAnswer{Path: dir, Entries: es})
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

func (h *handlers) usage(c echo.Context) error {
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	u, err := sp.Usage(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}
