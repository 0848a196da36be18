// Package tokenep serves POST /api/token (SPEC §7.3): a device exchanges its refresh
// secret for a short-lived access token and a new secret. Bodies are JSON or
// application/x-www-form-urlencoded; refusals follow RFC 6749 §5.2 (400 with
// {"error","error_description"}), except 429 from the failed-auth limiter, which keeps
// the API's own error shape. Every refusal counts as a failed authentication.
package tokenep

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/authmw"
)

// Path is the route of the endpoint.
const Path = "/api/token"

// maxBody bounds a request body (SPEC §3: JSON bodies over 64 KiB are 413).
const maxBody = 64 << 10

// RFC 6749 §5.2 error codes.
const (
	errInvalidRequest = "invalid_request"
	errInvalidGrant   = "invalid_grant"
	errUnsupported    = "unsupported_grant_type"
)

// Answer is the success body.
type Answer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// oauthError is RFC 6749 §5.2's error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// Register mounts POST /api/token on e.
func Register(e *echo.Echo, svc *auth.Service, mw *authmw.Middleware, logger *slog.Logger) {
	if logger == nil {
		logger = slog.Default()
	}
	h := &handler{svc: svc, mw: mw, log: logger}
	e.POST(Path, h.serve)
}

type handler struct {
	svc *auth.Service
	mw  *authmw.Middleware
	log *slog.Logger
}

func (h *handler) serve(c echo.Context) error {
	r := c.Request()
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	grant, refresh, code, desc := parse(r)
	if code == "" && grant != "refresh_token" {
		code, desc = errUnsupported, "grant_type must be refresh_token"
	}
	if code == "" {
		g, err := h.svc.Devices().Redeem(r.Context(), refresh, h.mw.ClientAddrOf(r).String(), authmw.PeerCertificate(r))
		var ge *auth.GrantError
		switch {
		case err == nil:
			return c.JSON(http.StatusOK, Answer{AccessToken: g.AccessToken, TokenType: "Bearer",
				ExpiresIn: max(0, int64(time.Until(g.ExpiresAt).Seconds())), RefreshToken: g.RefreshToken})
		case errors.As(err, &ge):
			code, desc = errInvalidGrant, ge.Description
		default:
			return err
		}
	}
	if err := h.mw.CountFailure(r); err != nil {
		return err
	}
	if code == "too_large" {
		return protocol.Errorf(protocol.CodeTooLarge, "%s", desc)
	}
	h.log.Debug("token request refused", "error", code, "addr", h.mw.ClientAddrOf(r).String())
	return c.JSON(http.StatusBadRequest, oauthError{Error: code, Description: desc})
}

// parse reads the grant_type and refresh_token of r, or the RFC 6749 error code and
// description of a malformed request ("too_large" for an oversized body).
func parse(r *http.Request) (grant, refresh, code, desc string) {
	if r.URL.RawQuery != "" {
		return "", "", errInvalidRequest, "parameters belong in the body, not the query string"
	}
	if len(r.Header.Values("Authorization")) > 0 {
		return "", "", errInvalidRequest, "the token endpoint takes no Authorization header"
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", "", "too_large", "request body over 64 KiB"
		}
		return "", "", errInvalidRequest, "unreadable body"
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", "", errInvalidRequest, "Content-Type must be application/json or application/x-www-form-urlencoded"
	}
	switch mt {
	case "application/json":
		var v struct {
			GrantType    *string `json:"grant_type"`
			RefreshToken *string `json:"refresh_token"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return "", "", errInvalidRequest, "malformed JSON body"
		}
		if v.GrantType != nil {
			grant = *v.GrantType
		}
		if v.RefreshToken != nil {
			refresh = *v.RefreshToken
		}
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return "", "", errInvalidRequest, "malformed form body"
		}
		for k, vs := range vals {
			if len(vs) > 1 {
				return "", "", errInvalidRequest, "parameter " + safeName(k) + " given more than once"
			}
		}
		grant, refresh = vals.Get("grant_type"), vals.Get("refresh_token")
	default:
		return "", "", errInvalidRequest, "Content-Type must be application/json or application/x-www-form-urlencoded"
	}
	switch {
	case grant == "":
		return "", "", errInvalidRequest, "grant_type is required"
	case grant == "refresh_token" && refresh == "":
		return "", "", errInvalidRequest, "refresh_token is required"
	}
	return grant, refresh, "", ""
}

// safeName echoes a parameter name only when it is short and plain.
func safeName(k string) string {
	if len(k) > 32 || strings.IndexFunc(k, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return "a parameter"
	}
	return k
}
