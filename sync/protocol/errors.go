package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Code is one of SPEC §3's error codes. transport maps each to its HTTP status in one
// table; the WebSocket Error frame carries the same code.
type Code string

// The error codes of SPEC §3 (plus content_missing of SPEC §4).
const (
	CodeUnauthenticated     Code = "unauthenticated"
	CodeForbidden           Code = "forbidden"
	CodeNotFound            Code = "not_found"
	CodeConflict            Code = "conflict"
	CodePreconditionFailed  Code = "precondition_failed"
	CodeInvalidPath         Code = "invalid_path"
	CodeBadRequest          Code = "bad_request"
	CodeTooLarge            Code = "too_large"
	CodeQuotaExceeded       Code = "quota_exceeded"
	CodeUnsupportedMedia    Code = "unsupported_media_type"
	CodeDigestMismatch      Code = "digest_mismatch"
	CodeRateLimited         Code = "rate_limited"
	CodeResyncRequired      Code = "resync_required"
	CodeInsufficientStorage Code = "insufficient_storage"
	CodeInternal            Code = "internal"
	CodeContentMissing      Code = "content_missing"
	CodeUnavailable         Code = "unavailable"
	// CodeBadDelta: a delta upload's op stream is malformed (POST /api/delta).
	CodeBadDelta Code = "bad_delta"
	// CodePreconditionRequired: a request that must be conditional carried no
	// If-Match (POST /api/delta).
	CodePreconditionRequired Code = "precondition_required"
)

// Error is a failure with a code that may be shown to the caller. Message must not
// hold internal detail (file system paths, SQL, tokens).
type Error struct {
	Code    Code
	Message string
	Err     error // optional cause, for logs only; never shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Code: X}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == ""
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// StoreFailure wraps err, a failure of a store (the index, the token store) with the
// caller-facing message, as an *Error: CodeUnavailable (503, retried) when the store
// did not answer in time or could not be reached (err wraps
// context.DeadlineExceeded or a net.Error: a database that stopped answering or is
// down), else CodeInternal.
func StoreFailure(message string, err error) *Error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return &Error{Code: CodeUnavailable, Message: message, Err: err}
	}
	return &Error{Code: CodeInternal, Message: message, Err: err}
}

// CodeOf returns the code of err, or CodeInternal if err carries none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Sentinels for errors.Is checks: errors.Is(err, protocol.ErrNotFound).
var (
	ErrNotFound           = &Error{Code: CodeNotFound}
	ErrConflict           = &Error{Code: CodeConflict}
	ErrPreconditionFailed = &Error{Code: CodePreconditionFailed}
	ErrInvalidPath        = &Error{Code: CodeInvalidPath}
	ErrUnauthenticated    = &Error{Code: CodeUnauthenticated}
	ErrForbidden          = &Error{Code: CodeForbidden}
)
