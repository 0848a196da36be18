package api

import (
	"bytes"
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// The route prefixes of delta transfer (SPEC §7.4).
const (
	chunksPrefix = "/api/chunks/"
	deltaPrefix  = "/api/delta/"
)

// chunks serves GET /api/chunks/{path}: the chunk list of the file's content, with
// the same path rules, role and errors as GET /api/files and the content's ETag.
func (h *handlers) chunks(c echo.Context) error {
	p, err := prefixedPath(c.Request(), chunksPrefix)
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	l, err := sp.Chunks(c.Request().Context(), p)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Etag", `"`+l.Hash+`"`)
	return c.JSON(http.StatusOK, l)
}

// delta serves POST /api/delta/{path}: an upload whose body is a sync/delta op stream
// against the current content named by If-Match (required: 428 without). Headers,
// checks and answers are PUT's; If-Match: * and If-None-Match are refused, and the
// body must be delta.ContentType (415 otherwise).
func (h *handlers) delta(c echo.Context) error {
	req := c.Request()
	hdr, err := parseUploadHeaders(req.Header)
	if err != nil {
		return err
	}
	if err := checkDeltaType(req.Header); err != nil {
		return err
	}
	if hdr.IfMatchAny || hdr.IfNoneMatch {
		return protocol.Errorf(protocol.CodeBadRequest, "a delta upload needs If-Match with the base's hash, not * or If-None-Match")
	}
	p, err := prefixedPath(req, deltaPrefix)
	if err != nil {
		return err
	}
	sp, principal, err := h.space(c)
	if err != nil {
		return err
	}
	ctx := req.Context()
	meta, created, err := sp.PutDelta(ctx, p, bodyOf(req), tenants.PutOptions{
		SHA256:   hdr.SHA256,
		IfMatch:  hdr.IfMatch,
		Modified: hdr.Modified,
		Source:   tenants.Source{ClientID: hdr.ClientID, Subject: principal.Subject},
		BeforeCommit: func() error {
			return h.auth.Check(ctx, principal)
		},
	})
	return h.uploaded(c, principal, meta, created, err)
}

// prefetchMax is the largest delta body read whole at its first read.
const prefetchMax = 4 << 20

// bodyOf returns the delta body. A body of declared length up to prefetchMax (a
// typical delta: an edit costs a chunk or two) is read whole at its first read, after
// the checks that need no body: the server may then spend long on copies of the base
// without reading from the connection, and the request-body rate floor
// (transport/guard) must not take that pause for a slow client.
func bodyOf(req *http.Request) io.Reader {
	if req.ContentLength < 0 || req.ContentLength > prefetchMax {
		return req.Body
	}
	return &prefetched{r: req.Body, n: req.ContentLength}
}

// prefetched reads r whole (n bytes declared) at the first Read, then serves it. Its
// buffer grows with the bytes that arrive, never to the declared n before they do: a
// client declaring prefetchMax and sending little holds little.
type prefetched struct {
	r    io.Reader
	n    int64
	buf  *bytes.Reader
	err  error
	done bool
}

func (p *prefetched) Read(b []byte) (int, error) {
	if !p.done {
		p.done = true
		var data bytes.Buffer
		// A short body is no error here: the op stream's own end checks report it.
		_, err := data.ReadFrom(io.LimitReader(p.r, p.n))
		p.buf = bytes.NewReader(data.Bytes())
		p.err = err // a slow or broken body: reported before any op is decoded
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.buf.Read(b)
}

// checkDeltaType requires Content-Type delta.ContentType (parameters ignored).
func checkDeltaType(h http.Header) error {
	v, ok, err := single(h, "Content-Type")
	if err != nil {
		return err
	}
	if ok {
		if mt, _, perr := mime.ParseMediaType(v); perr == nil && mt == delta.ContentType {
			return nil
		}
	}
	return protocol.Errorf(protocol.CodeUnsupportedMedia, "a delta upload's Content-Type must be %s", delta.ContentType)
}
