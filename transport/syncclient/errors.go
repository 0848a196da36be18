package syncclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/syncspace/syncspace/sync/protocol"
)

// DecodeError turns a non-2xx response into a *protocol.Error, using the body's
// {"error":{"code","message"}} when it has one and the status otherwise. The message
// names the request's URL (without its query) when resp.Request is set.
//
// 502, 503 and 504 (a proxy that cannot reach the server, or a server not ready) also
// count as the server unreachable: errors.Is(err, engine.ErrUnreachable) holds.
func DecodeError(resp *http.Response) *protocol.Error {
	e := decodeError(resp)
	if resp.Request != nil && resp.Request.URL != nil {
		e.Message = fmt.Sprintf("%s %s: %s", resp.Request.Method, redact(resp.Request.URL), e.Message)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if e.Err == nil {
			e.Err = &unreachable{err: fmt.Errorf("HTTP %d", resp.StatusCode)}
		}
	}
	return e
}

func decodeError(resp *http.Response) *protocol.Error {
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return protocol.Errorf(protocol.CodeBadRequest, "the server answered with a redirect (%d), which is not followed", resp.StatusCode)
	}
	var body struct {
		Error struct {
			Code    protocol.Code `json:"code"`
			Message string        `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		return &protocol.Error{Code: body.Error.Code, Message: body.Error.Message}
	}
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(b, []byte("HTTP request to an HTTPS server")) {
		// Go's TLS server answers a plain HTTP request so.
		return &protocol.Error{Code: protocol.CodeBadRequest, Message: speaksTLS}
	}
	return &protocol.Error{Code: codeForStatus(resp.StatusCode), Message: http.StatusText(resp.StatusCode)}
}

func codeForStatus(s int) protocol.Code {
	switch s {
	case 400:
		return protocol.CodeBadRequest
	case 401:
		return protocol.CodeUnauthenticated
	case 403:
		return protocol.CodeForbidden
	case 404:
		return protocol.CodeNotFound
	case 409:
		return protocol.CodeConflict
	case 410:
		return protocol.CodeResyncRequired
	case 412:
		return protocol.CodePreconditionFailed
	case 413:
		return protocol.CodeTooLarge
	case 415:
		return protocol.CodeUnsupportedMedia
	case 422:
		return protocol.CodeDigestMismatch
	case 429:
		return protocol.CodeRateLimited
	case 502, 503, 504:
		return protocol.CodeUnavailable
	case 507:
		return protocol.CodeInsufficientStorage
	}
	return protocol.CodeInternal
}

// decodeJSON reads a JSON answer of at most limit bytes into v.
func decodeJSON(r io.Reader, v any) error {
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(v); err != nil {
		return protocol.Errorf(protocol.CodeInternal, "bad answer from the server: %v", err)
	}
	return nil
}
