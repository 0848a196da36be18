package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/httperr"
	"github.com/syncspace/syncspace/transport/spaceview"
)

// download serves GET and HEAD /api/files/{path}.
func (h *handlers) download(c echo.Context) error {
	p, err := filePath(c.Request())
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	return ServeFile(c, sp, p)
}

// ServeFile answers GET or HEAD of the file at p in sp with SPEC §3's download
// headers (ETag, X-Sync-Seq, Content-Disposition attachment, CSP sandbox; Range,
// If-Range and If-None-Match through http.ServeContent). Share links use it too.
//
// A HEAD does not open the file where the space can answer from its index
// (spaceview.View.StatFile): http.ServeContent then reads the size from the entry
// through sizeOnly, so that HEAD and GET send the same headers.
func ServeFile(c echo.Context, sp *spaceview.View, p string) error {
	ctx := c.Request().Context()
	var content io.ReadSeeker
	var meta protocol.Metadata
	if c.Request().Method == http.MethodHead {
		m, err := sp.StatFile(ctx, p)
		if err != nil {
			return err
		}
		meta, content = m, &sizeOnly{size: m.Size}
	} else {
		f, m, err := sp.Open(ctx, p)
		if err != nil {
			return err
		}
		defer f.Close()
		meta, content = m, &fileContent{f: f}
	}

	resp := c.Response()
	hd := resp.Header()
	hd.Set("Etag", `"`+meta.Hash+`"`)
	hd.Set("X-Sync-Seq", strconv.FormatInt(meta.Seq, 10))
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", contentDisposition(path.Base(meta.Path)))
	hd.Set("Content-Security-Policy", "sandbox")

	// http.ServeContent on the underlying writer keeps io.ReaderFrom (sendfile), which
	// Echo's Response hides; sw records the status and size for the request log.
	sw := &statusWriter{ResponseWriter: resp.Writer, onError: func(w http.ResponseWriter, status int) {
		serveContentError(w, status, meta.Size)
	}}
	fixRange(c.Request().Header, meta.Size)
	http.ServeContent(sw, c.Request(), "", meta.Modified.UTC().Truncate(time.Second), content)
	resp.Committed = true
	resp.Status = sw.status
	resp.Size = sw.size
	return nil
}

// contentDisposition returns an attachment disposition naming the file (RFC 6266,
// with an ASCII fallback).
func contentDisposition(name string) string {
	ascii := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		b := name[i]
		if b < 0x20 || b >= 0x7f || b == '"' || b == '\\' || b == '%' || b == ';' {
			b = '_'
		}
		ascii = append(ascii, b)
	}
	return `attachment; filename="` + string(ascii) + `"; filename*=UTF-8''` + extValue(name)
}

// extValue percent-encodes name for an RFC 8187 ext-value: every byte but attr-char
// (letters, digits and !#$&+-.^_`|~) escaped. url.PathEscape left '=' and '@' bare,
// which made the whole header unparseable.
func extValue(name string) string {
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(name)*3)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return string(b)
}

// fixRange rewrites the Range header h of a file of size bytes where net/http's
// ServeContent departs from RFC 9110 §14: a range unit other than bytes is ignored
// (the whole file, 200; ServeContent answered 416), the unit is matched without
// regard to case ("Bytes=0-1"), and a suffix range that selects no byte ("bytes=-0",
// or any suffix of an empty file), which ServeContent turned into a zero-length part
// with an impossible Content-Range ("bytes 11-10/11", "bytes 0--1/0"), becomes
// "SIZE-", which it reads as unsatisfiable: left out beside satisfiable ranges, 416
// alone, and for an empty file the whole (empty) file with 200, as ServeContent
// answers any range of one. Specs are split and trimmed as ServeContent's parseRange
// does; anything it refuses is left for it to refuse.
func fixRange(h http.Header, size int64) {
	v := h.Get("Range")
	if v == "" {
		return
	}
	unit, specs, ok := strings.Cut(v, "=")
	if !ok || !strings.EqualFold(unit, "bytes") {
		h.Del("Range")
		return
	}
	parts := strings.Split(specs, ",")
	for i, p := range parts {
		start, end, ok := strings.Cut(p, "-")
		if !ok || textproto.TrimString(start) != "" {
			continue
		}
		end = textproto.TrimString(end)
		if end == "" || end[0] == '-' {
			continue
		}
		if n, err := strconv.ParseInt(end, 10, 64); err == nil && n >= 0 && (n == 0 || size == 0) {
			parts[i] = strconv.FormatInt(size, 10) + "-"
		}
	}
	h.Set("Range", "bytes="+strings.Join(parts, ","))
}

// serveContentError answers the errors http.ServeContent finds itself (a failed
// If-Match or If-Unmodified-Since: 412; an unsatisfiable or malformed Range: 416,
// always with Content-Range "bytes */SIZE", which ServeContent sent only for
// unsatisfiable ones) as SPEC §3 errors instead of net/http's plain text.
func serveContentError(w http.ResponseWriter, status int, size int64) {
	switch status {
	case http.StatusPreconditionFailed:
		httperr.WriteRaw(w, status, protocol.CodePreconditionFailed, "precondition failed")
	case http.StatusRequestedRangeNotSatisfiable:
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		httperr.WriteRaw(w, status, protocol.CodeBadRequest, "range not satisfiable")
	default:
		httperr.WriteRaw(w, status, protocol.CodeBadRequest, http.StatusText(status))
	}
}

// statusWriter records status and size while keeping io.ReaderFrom of the wrapped
// writer, so that copying a file to a plain TCP connection still uses sendfile. An
// error status goes to onError, which writes the whole answer; what the caller writes
// after it is dropped.
type statusWriter struct {
	http.ResponseWriter
	status  int
	size    int64
	onError func(w http.ResponseWriter, status int)
	dropped bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	if code >= 400 && w.onError != nil && !w.dropped {
		w.dropped = true
		w.onError(w.ResponseWriter, code)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.dropped {
		return len(b), nil
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += int64(n)
	return n, err
}

// ReadFrom delegates to the wrapped writer's ReadFrom (sendfile) when it has one.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.dropped {
		return io.Copy(io.Discard, r)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if lr, ok := r.(*io.LimitedReader); ok {
		if lr.N <= smallBody {
			// A small body joins the header in net/http's buffer: one write, where
			// sendfile would take three system calls (see smallBody).
			return copySmall(w, lr)
		}
		if fc, ok := lr.R.(*fileContent); ok {
			f, err := fc.raw() // the *os.File itself, for sendfile
			if err != nil {
				return 0, err
			}
			r = &io.LimitedReader{R: f, N: lr.N}
		}
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.size += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// upload serves PUT /api/files/{path}. Everything that can be decided without the body
// (auth, path, headers, preconditions, Content-Length against limits and quota) is
// decided before the first body byte is read, so `Expect: 100-continue` clients send
// nothing when the answer is an error.
func (h *handlers) upload(c echo.Context) error {
	req := c.Request()
	hdr, err := parseUploadHeaders(req.Header)
	if err != nil {
		return err
	}
	p, err := filePath(req)
	if err != nil {
		return err
	}
	sp, principal, err := h.space(c)
	if err != nil {
		return err
	}
	ctx := req.Context()
	if hdr.IfMatchAny {
		// If-Match: * needs an existing file; the store checks hashes only.
		meta, err := sp.Stat(ctx, p)
		if err != nil {
			if protocol.CodeOf(err) == protocol.CodeNotFound {
				return protocol.Errorf(protocol.CodePreconditionFailed, "no file at this path")
			}
			return err
		}
		if meta.IsDirectory {
			return protocol.Errorf(protocol.CodeConflict, "path is a directory")
		}
		hdr.IfMatch = meta.Hash
	}
	// The body is read under guard.Middleware's rate floor.
	meta, created, err := sp.Put(ctx, p, req.Body, tenants.PutOptions{
		Size:        req.ContentLength,
		SHA256:      hdr.SHA256,
		IfMatch:     hdr.IfMatch,
		IfNoneMatch: hdr.IfNoneMatch,
		Modified:    hdr.Modified,
		Source:      tenants.Source{ClientID: hdr.ClientID, Subject: principal.Subject},
		BeforeCommit: func() error {
			return h.auth.Check(ctx, principal)
		},
	})
	return h.uploaded(c, principal, meta, created, err)
}

// uploaded answers an upload (PUT or delta): the stored metadata with ETag and
// X-Sync-Seq, 201 when the path was new, or the error, a slow or oversized body
// mapped.
func (h *handlers) uploaded(c echo.Context, principal *auth.Principal, meta protocol.Metadata, created bool, err error) error {
	if err != nil {
		if errors.Is(err, guard.ErrSlowBody) {
			h.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "upload cut: body too slow", slog.String("tenant", principal.Tenant))
			return guard.ErrSlowBody
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return protocol.Errorf(protocol.CodeTooLarge, "request body too large")
		}
		return err
	}
	hd := c.Response().Header()
	hd["Etag"] = []string{`"` + meta.Hash + `"`} // Header.Set, keys already canonical
	hd["X-Sync-Seq"] = []string{strconv.FormatInt(meta.Seq, 10)}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return answerMeta(c, status, meta)
}

// delete serves DELETE /api/files/{path}[?recursive=true][&if_seq=N].
func (h *handlers) delete(c echo.Context) error {
	req := c.Request()
	p, err := filePath(req)
	if err != nil {
		return err
	}
	recursive, err := guard.Bool(c, "recursive")
	if err != nil {
		return err
	}
	ifSeq, hasIfSeq, err := ifSeqParam(c)
	if err != nil {
		return err
	}
	ifMatch, err := deleteIfMatch(req.Header)
	if err != nil {
		return err
	}
	clientID, err := parseClientID(req.Header)
	if err != nil {
		return err
	}
	sp, principal, err := h.space(c)
	if err != nil {
		return err
	}
	seq, err := sp.Delete(req.Context(), p, tenants.DeleteOptions{
		Recursive: recursive,
		IfMatch:   ifMatch,
		IfSeq:     ifSeq,
		HasIfSeq:  hasIfSeq,
		Source:    source(clientID, principal),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int64{"seq": seq})
}

// deleteIfMatch reads the If-Match header of a DELETE: the hash the file must have,
// or "" when there is none or it is "*" (RFC 9110: any current representation, which
// the delete's own 404 for a missing path already asks for).
func deleteIfMatch(h http.Header) (string, error) {
	v, ok, err := single(h, "If-Match")
	if err != nil || !ok || strings.TrimSpace(v) == "*" {
		return "", err
	}
	return parseETag(v)
}

func source(clientID string, p *auth.Principal) tenants.Source {
	return tenants.Source{ClientID: clientID, Subject: p.Subject}
}
