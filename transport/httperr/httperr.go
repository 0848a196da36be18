// Package httperr is syncspace's one table from protocol error codes to HTTP statuses
// and the one JSON shape of an error answer (SPEC §3):
//
//	{"error":{"code":"...","message":"..."}}
//
// It is a leaf of the transport layer: every Echo handler and middleware returns its
// errors through Write (directly, or by returning them to Echo, whose HTTPErrorHandler
// is Handler). Errors that carry no *protocol.Error become 500 "internal"; their detail
// goes only to the log, never to the caller.
//
// Choices where SPEC §3 is silent: content_missing (a WebSocket-only code) maps to 409;
// unavailable maps to 503; a route that exists under another method answers 405 with
// code bad_request and an Allow header; an unknown route answers 404 not_found; a body
// over a size limit answers 413 too_large.
package httperr

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/logpath"
)

// LoggerKey is the echo.Context key under which a *slog.Logger may be stored for Write
// to log internal errors with. When absent, Write uses slog.Default().
const LoggerKey = "syncspace.logger"

// Default Retry-After values (seconds) for answers that carry none of their own.
const (
	DefaultRetryAfterRateLimited = 1
	DefaultRetryAfterUnavailable = 5
)

// statusByCode is the one table code → HTTP status.
var statusByCode = map[protocol.Code]int{
	protocol.CodeUnauthenticated:      http.StatusUnauthorized,
	protocol.CodeForbidden:            http.StatusForbidden,
	protocol.CodeNotFound:             http.StatusNotFound,
	protocol.CodeConflict:             http.StatusConflict,
	protocol.CodePreconditionFailed:   http.StatusPreconditionFailed,
	protocol.CodeInvalidPath:          http.StatusBadRequest,
	protocol.CodeBadRequest:           http.StatusBadRequest,
	protocol.CodeTooLarge:             http.StatusRequestEntityTooLarge,
	protocol.CodeQuotaExceeded:        http.StatusRequestEntityTooLarge,
	protocol.CodeUnsupportedMedia:     http.StatusUnsupportedMediaType,
	protocol.CodeDigestMismatch:       http.StatusUnprocessableEntity,
	protocol.CodeRateLimited:          http.StatusTooManyRequests,
	protocol.CodeResyncRequired:       http.StatusGone,
	protocol.CodeInsufficientStorage:  http.StatusInsufficientStorage,
	protocol.CodeInternal:             http.StatusInternalServerError,
	protocol.CodeContentMissing:       http.StatusConflict,
	protocol.CodeUnavailable:          http.StatusServiceUnavailable,
	protocol.CodeBadDelta:             http.StatusBadRequest,
	protocol.CodePreconditionRequired: http.StatusPreconditionRequired,
}

// Status returns the HTTP status of code; an unknown code is 500.
func Status(code protocol.Code) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Body is the JSON shape of every error answer.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the inner object of Body.
type Detail struct {
	Code    protocol.Code `json:"code"`
	Message string        `json:"message"`
}

// RetryAfterError lets an error name its own Retry-After delay (whole seconds, ≥ 1).
// Errors without it get DefaultRetryAfterRateLimited / DefaultRetryAfterUnavailable,
// unless the handler already set the Retry-After header.
type RetryAfterError interface {
	RetryAfterSeconds() int
}

// Classify turns any error into the status and detail sent to the caller, and reports
// whether it is an internal failure whose cause must only be logged.
func Classify(err error) (status int, d Detail, internal bool) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		code := pe.Code
		if _, ok := statusByCode[code]; !ok {
			code = protocol.CodeInternal
		}
		msg := pe.Message
		if code == protocol.CodeInternal {
			msg = "internal error"
		}
		if msg == "" {
			msg = defaultMessage(code)
		}
		return Status(code), Detail{Code: code, Message: msg}, code == protocol.CodeInternal
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, Detail{Code: protocol.CodeTooLarge, Message: "request body too large"}, false
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return fromEcho(he)
	}
	return http.StatusInternalServerError, Detail{Code: protocol.CodeInternal, Message: "internal error"}, true
}

// fromEcho maps Echo's own errors (router, binder, body limit) by status.
func fromEcho(he *echo.HTTPError) (int, Detail, bool) {
	st := he.Code
	switch {
	case st == http.StatusNotFound:
		return st, Detail{Code: protocol.CodeNotFound, Message: "not found"}, false
	case st == http.StatusMethodNotAllowed:
		return st, Detail{Code: protocol.CodeBadRequest, Message: "method not allowed"}, false
	case st == http.StatusRequestEntityTooLarge:
		return st, Detail{Code: protocol.CodeTooLarge, Message: "request body too large"}, false
	case st == http.StatusUnauthorized:
		return st, Detail{Code: protocol.CodeUnauthenticated, Message: "authentication required"}, false
	case st == http.StatusForbidden:
		return st, Detail{Code: protocol.CodeForbidden, Message: "forbidden"}, false
	case st == http.StatusUnsupportedMediaType:
		return st, Detail{Code: protocol.CodeUnsupportedMedia, Message: "unsupported media type"}, false
	case st == http.StatusTooManyRequests:
		return st, Detail{Code: protocol.CodeRateLimited, Message: "too many requests"}, false
	case st == http.StatusServiceUnavailable:
		return st, Detail{Code: protocol.CodeUnavailable, Message: "service unavailable"}, false
	case st >= 400 && st < 500:
		// Echo's messages for 4xx (binder errors and the like) hold no internal
		// detail, but they may quote input; use a fixed text.
		return http.StatusBadRequest, Detail{Code: protocol.CodeBadRequest, Message: "bad request"}, false
	default:
		return http.StatusInternalServerError, Detail{Code: protocol.CodeInternal, Message: "internal error"}, true
	}
}

func defaultMessage(code protocol.Code) string {
	switch code {
	case protocol.CodeUnauthenticated:
		return "authentication required"
	case protocol.CodeRateLimited:
		return "too many requests"
	}
	return string(code)
}

// Write sends err as the JSON error answer of SPEC §3. A 401 adds
// `WWW-Authenticate: Bearer error="invalid_token"`; 429 and 503 add Retry-After (the
// error's own, a header the handler already set, or the default). Errors without a
// SPEC code become 500 "internal", their detail logged and never sent. If the response
// is already committed, Write only logs. HEAD requests get the headers without a body.
func Write(c echo.Context, err error) error {
	status, d, internal := Classify(err)
	logger := loggerFrom(c)
	req := c.Request()
	if internal {
		level := slog.LevelError
		if req.Context().Err() != nil {
			// The client went away mid-request: its cancellation surfaced as a failure
			// below; nobody reads this answer and nothing is wrong with the server.
			level = slog.LevelDebug
		}
		logger.LogAttrs(req.Context(), level, "internal error",
			slog.String("method", req.Method), slog.String("path", logpath.Of(req.URL.Path)), slog.Any("err", err))
	}
	resp := c.Response()
	if resp.Committed {
		if !internal {
			logger.LogAttrs(req.Context(), slog.LevelDebug, "error after response started",
				slog.String("method", req.Method), slog.String("path", logpath.Of(req.URL.Path)), slog.String("code", string(d.Code)))
		}
		return nil
	}
	h := resp.Header()
	// Headers meant for the success answer do not belong on an error.
	for _, k := range successHeaders {
		h.Del(k)
	}
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		secs := 0
		var ra RetryAfterError
		if errors.As(err, &ra) {
			secs = ra.RetryAfterSeconds()
		}
		if secs > 0 {
			h.Set("Retry-After", strconv.Itoa(secs))
		} else if h.Get("Retry-After") == "" {
			if status == http.StatusTooManyRequests {
				secs = DefaultRetryAfterRateLimited
			} else {
				secs = DefaultRetryAfterUnavailable
			}
			h.Set("Retry-After", strconv.Itoa(secs))
		}
	case http.StatusMethodNotAllowed:
		// Echo sets Allow itself when it knows the route's methods.
	}
	if req.Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.JSON(status, Body{Error: d})
}

// WriteRaw writes the JSON error answer of SPEC §3 straight to a net/http writer, for
// code that answers outside Echo's error path (the WebSocket upgrader, errors that
// http.ServeContent finds itself). status is given because a few such answers (416)
// have no status of their own in the code table. Headers meant for a success answer
// are dropped; Cache-Control and nosniff are set as on every answer.
func WriteRaw(w http.ResponseWriter, status int, code protocol.Code, message string) {
	b, _ := json.Marshal(Body{Error: Detail{Code: code, Message: message}})
	b = append(b, '\n')
	h := w.Header()
	cr := h.Get("Content-Range")
	for _, k := range successHeaders {
		h.Del(k)
	}
	if status == http.StatusRequestedRangeNotSatisfiable && cr != "" {
		h.Set("Content-Range", cr) // "bytes */size" belongs on a 416 (RFC 9110)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "private, no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// successHeaders belong on a success answer only.
var successHeaders = []string{"Content-Disposition", "Content-Security-Policy", "Content-Length", "Content-Encoding", "Etag", "Last-Modified", "Accept-Ranges", "Content-Range", "X-Sync-Seq"}

// Handler returns Echo's HTTPErrorHandler for syncspace: it stores logger for Write and
// answers through Write.
func Handler(logger *slog.Logger) echo.HTTPErrorHandler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(err error, c echo.Context) {
		if c.Get(LoggerKey) == nil {
			c.Set(LoggerKey, logger)
		}
		if werr := Write(c, err); werr != nil {
			logger.LogAttrs(c.Request().Context(), slog.LevelDebug, "writing error answer failed", slog.Any("err", werr))
		}
	}
}

func loggerFrom(c echo.Context) *slog.Logger {
	if l, ok := c.Get(LoggerKey).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}
