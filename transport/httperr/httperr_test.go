package httperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
)

type retryErr struct{ secs int }

func (e retryErr) Error() string          { return "slow down" }
func (e retryErr) RetryAfterSeconds() int { return e.secs }

func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		err        error
		preset     map[string]string
		wantStatus int
		wantCode   protocol.Code
		wantMsg    string
		wantHeader map[string]string
		noLeak     string
	}{
		{name: "unauthenticated", err: protocol.Errorf(protocol.CodeUnauthenticated, "bad token"), wantStatus: 401, wantCode: "unauthenticated",
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}},
		{name: "forbidden", err: protocol.Errorf(protocol.CodeForbidden, "no"), wantStatus: 403, wantCode: "forbidden"},
		{name: "not found", err: protocol.Errorf(protocol.CodeNotFound, "nope"), wantStatus: 404, wantCode: "not_found", wantMsg: "nope"},
		{name: "conflict", err: protocol.Errorf(protocol.CodeConflict, "x"), wantStatus: 409, wantCode: "conflict"},
		{name: "precondition", err: protocol.Errorf(protocol.CodePreconditionFailed, "x"), wantStatus: 412, wantCode: "precondition_failed"},
		{name: "invalid path", err: protocol.Errorf(protocol.CodeInvalidPath, "x"), wantStatus: 400, wantCode: "invalid_path"},
		{name: "bad request", err: protocol.Errorf(protocol.CodeBadRequest, "x"), wantStatus: 400, wantCode: "bad_request"},
		{name: "too large", err: protocol.Errorf(protocol.CodeTooLarge, "x"), wantStatus: 413, wantCode: "too_large"},
		{name: "quota", err: protocol.Errorf(protocol.CodeQuotaExceeded, "x"), wantStatus: 413, wantCode: "quota_exceeded"},
		{name: "media", err: protocol.Errorf(protocol.CodeUnsupportedMedia, "x"), wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "digest", err: protocol.Errorf(protocol.CodeDigestMismatch, "x"), wantStatus: 422, wantCode: "digest_mismatch"},
		{name: "rate limited default retry", err: protocol.Errorf(protocol.CodeRateLimited, "x"), wantStatus: 429, wantCode: "rate_limited",
			wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "rate limited own retry", err: fmt.Errorf("w: %w", errors.Join(retryErr{7}, protocol.Errorf(protocol.CodeRateLimited, "x"))), wantStatus: 429, wantCode: "rate_limited",
			wantHeader: map[string]string{"Retry-After": "7"}},
		{name: "rate limited preset header kept", err: protocol.Errorf(protocol.CodeRateLimited, "x"), preset: map[string]string{"Retry-After": "12"}, wantStatus: 429, wantCode: "rate_limited",
			wantHeader: map[string]string{"Retry-After": "12"}},
		{name: "unavailable", err: protocol.Errorf(protocol.CodeUnavailable, "x"), wantStatus: 503, wantCode: "unavailable",
			wantHeader: map[string]string{"Retry-After": "5"}},
		{name: "resync", err: protocol.Errorf(protocol.CodeResyncRequired, "x"), wantStatus: 410, wantCode: "resync_required"},
		{name: "storage", err: protocol.Errorf(protocol.CodeInsufficientStorage, "x"), wantStatus: 507, wantCode: "insufficient_storage"},
		{name: "content missing", err: protocol.Errorf(protocol.CodeContentMissing, "x"), wantStatus: 409, wantCode: "content_missing"},
		{name: "bad delta", err: protocol.Errorf(protocol.CodeBadDelta, "x"), wantStatus: 400, wantCode: "bad_delta"},
		{name: "precondition required", err: protocol.Errorf(protocol.CodePreconditionRequired, "x"), wantStatus: 428, wantCode: "precondition_required"},
		{name: "wrapped protocol error", err: fmt.Errorf("ctx: %w", protocol.Errorf(protocol.CodeConflict, "c")), wantStatus: 409, wantCode: "conflict", wantMsg: "c"},
		{name: "echo 404", err: echo.ErrNotFound, wantStatus: 404, wantCode: "not_found"},
		{name: "echo 405", err: echo.ErrMethodNotAllowed, wantStatus: 405, wantCode: "bad_request"},
		{name: "echo 413", err: echo.ErrStatusRequestEntityTooLarge, wantStatus: 413, wantCode: "too_large"},
		{name: "echo 400", err: echo.NewHTTPError(400, "code=400, message=Syntax error: offset=3"), wantStatus: 400, wantCode: "bad_request", noLeak: "offset"},
		{name: "max bytes", err: &http.MaxBytesError{Limit: 10}, wantStatus: 413, wantCode: "too_large"},
		{name: "head has no body", method: http.MethodHead, err: protocol.Errorf(protocol.CodeNotFound, "x"), wantStatus: 404},

		// attacks: internal detail never leaks.
		{name: "attack: plain error leaks nothing", err: errors.New("open /srv/secret/syncd.db: permission denied"), wantStatus: 500, wantCode: "internal", noLeak: "/srv"},
		{name: "attack: internal code with detail", err: &protocol.Error{Code: protocol.CodeInternal, Message: "SELECT * FROM tokens", Err: errors.New("x")}, wantStatus: 500, wantCode: "internal", noLeak: "SELECT"},
		{name: "attack: unknown code", err: &protocol.Error{Code: "weird", Message: "db at /var/lib"}, wantStatus: 500, wantCode: "internal", noLeak: "/var/lib"},
		{name: "attack: echo 500 with internal", err: echo.NewHTTPError(500, "boom /etc/passwd"), wantStatus: 500, wantCode: "internal", noLeak: "passwd"},
		{name: "attack: stale success headers dropped", err: protocol.Errorf(protocol.CodeNotFound, "x"), preset: map[string]string{"Content-Disposition": "attachment", "Etag": `"abc"`, "X-Sync-Seq": "4"}, wantStatus: 404, wantCode: "not_found",
			wantHeader: map[string]string{"Content-Disposition": "", "Etag": "", "X-Sync-Seq": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo.New()
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "/api/x?token=abc", nil)
			rec := httptest.NewRecorder()
			c := e.NewContext(req, rec)
			for k, v := range tt.preset {
				rec.Header().Set(k, v)
			}
			var logs strings.Builder
			Handler(slogTo(&logs))(tt.err, c)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			for k, v := range tt.wantHeader {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if method == http.MethodHead {
				if rec.Body.Len() != 0 {
					t.Fatalf("HEAD got body %q", rec.Body.String())
				}
				return
			}
			var b Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if b.Error.Code != tt.wantCode {
				t.Errorf("code %q, want %q", b.Error.Code, tt.wantCode)
			}
			if b.Error.Message == "" {
				t.Errorf("empty message")
			}
			if tt.wantMsg != "" && b.Error.Message != tt.wantMsg {
				t.Errorf("message %q, want %q", b.Error.Message, tt.wantMsg)
			}
			if tt.noLeak != "" && strings.Contains(rec.Body.String(), tt.noLeak) {
				t.Errorf("body leaks %q: %s", tt.noLeak, rec.Body.String())
			}
			if strings.Contains(logs.String(), "token=abc") {
				t.Errorf("log holds the query string: %s", logs.String())
			}
			if tt.wantCode == "internal" && tt.noLeak != "" && !strings.Contains(logs.String(), "internal error") {
				t.Errorf("internal error not logged: %q", logs.String())
			}
		})
	}
}

func TestCommittedResponseOnlyLogs(t *testing.T) {
	e := echo.New()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	c := e.NewContext(req, rec)
	if err := c.String(200, "partial"); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	Handler(slogTo(&logs))(errors.New("disk gone"), c)
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Fatalf("committed response changed: %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "disk gone") {
		t.Fatalf("not logged: %q", logs.String())
	}
}

func TestStatusTableComplete(t *testing.T) {
	for _, c := range []protocol.Code{protocol.CodeUnauthenticated, protocol.CodeForbidden, protocol.CodeNotFound, protocol.CodeConflict,
		protocol.CodePreconditionFailed, protocol.CodeInvalidPath, protocol.CodeBadRequest, protocol.CodeTooLarge, protocol.CodeQuotaExceeded,
		protocol.CodeUnsupportedMedia, protocol.CodeDigestMismatch, protocol.CodeRateLimited, protocol.CodeResyncRequired,
		protocol.CodeInsufficientStorage, protocol.CodeInternal, protocol.CodeContentMissing, protocol.CodeUnavailable,
		protocol.CodeBadDelta, protocol.CodePreconditionRequired} {
		if _, ok := statusByCode[c]; !ok {
			t.Errorf("code %q has no status", c)
		}
	}
	if Status("nonsense") != 500 {
		t.Errorf("unknown code not 500")
	}
}

// TestWriteRaw: the error answer written outside Echo has SPEC's JSON body and common
// headers, drops the success answer's headers, and keeps Content-Range on a 416.
func TestWriteRaw(t *testing.T) {
	for _, c := range []struct {
		status    int
		code      protocol.Code
		wantRange string
	}{
		{http.StatusRequestedRangeNotSatisfiable, protocol.CodeBadRequest, "bytes */16"},
		{http.StatusPreconditionFailed, protocol.CodePreconditionFailed, ""},
		{http.StatusForbidden, protocol.CodeForbidden, ""},
	} {
		rec := httptest.NewRecorder()
		for k, v := range map[string]string{"Etag": `"h"`, "X-Sync-Seq": "3", "Content-Disposition": "attachment", "Content-Range": "bytes */16", "Content-Length": "16"} {
			rec.Header().Set(k, v)
		}
		WriteRaw(rec, c.status, c.code, "msg")
		var b Body
		if rec.Code != c.status || json.Unmarshal(rec.Body.Bytes(), &b) != nil || b.Error.Code != c.code || b.Error.Message != "msg" {
			t.Fatalf("%d: %d %q", c.status, rec.Code, rec.Body.String())
		}
		h := rec.Header()
		if h.Get("Cache-Control") != "private, no-cache" || h.Get("Content-Type") != "application/json" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%d: headers %v", c.status, h)
		}
		if h.Get("Etag") != "" || h.Get("X-Sync-Seq") != "" || h.Get("Content-Disposition") != "" || h.Get("Content-Range") != c.wantRange {
			t.Errorf("%d: success headers left: %v", c.status, h)
		}
		if h.Get("Content-Length") != fmt.Sprint(rec.Body.Len()) {
			t.Errorf("%d: Content-Length %q for %d bytes", c.status, h.Get("Content-Length"), rec.Body.Len())
		}
	}
}
