package guard

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
)

// maxNameInError bounds how much of a parameter's name an error message quotes.
const maxNameInError = 64

// ParseQuery decodes a raw query string strictly: pairs are separated by '&', each
// key and value is percent-decoded once ('+' is a space, as url.ParseQuery reads it),
// and any pair that fails to decode, or holds a ';' (which url.ParseQuery also
// refuses), is an error. Empty pairs ("a=1&&b=2") are skipped as url.ParseQuery skips
// them. The error is a *protocol.Error bad_request naming the parameter: its decoded
// name when the name decodes, else the raw name, quoted and clipped.
func ParseQuery(raw string) (url.Values, error) {
	v := url.Values{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, kerr := url.QueryUnescape(rawKey)
		if kerr != nil || strings.Contains(rawKey, ";") {
			return nil, badParam(rawKey)
		}
		val, verr := url.QueryUnescape(rawVal)
		if verr != nil || strings.Contains(rawVal, ";") {
			return nil, badParam(key)
		}
		v[key] = append(v[key], val)
	}
	return v, nil
}

// badParam is the error naming a parameter that does not decode.
func badParam(name string) error {
	if len(name) > maxNameInError {
		name = name[:maxNameInError]
		for !utf8.ValidString(name) && len(name) > 0 {
			name = name[:len(name)-1]
		}
		name += "…"
	}
	return protocol.Errorf(protocol.CodeBadRequest, "query parameter %s does not decode (bad percent-encoding or ';')", strconv.Quote(name))
}

// Query is Echo middleware refusing a request whose query string does not decode
// strictly (see ParseQuery). Behind it, c.QueryParams() holds exactly the strictly
// decoded values, because url.ParseQuery drops only the pairs this refuses.
func Query(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := Values(c); err != nil {
			return err
		}
		return next(c)
	}
}

// queryKey is the echo.Context key of the strictly decoded query.
const queryKey = "syncspace.guard.query"

// Values returns the strictly decoded query of c's request (see ParseQuery), decoded
// once per request and kept in c. Handlers read their parameters through it, so that
// they are right even where the Query middleware is not mounted. The values are
// read-only: a request without a query string gets a nil url.Values (which reads as
// empty), built and stored for no request.
func Values(c echo.Context) (url.Values, error) {
	if c.Request().URL.RawQuery == "" {
		return nil, nil
	}
	if v, ok := c.Get(queryKey).(url.Values); ok {
		return v, nil
	}
	v, err := ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, err
	}
	c.Set(queryKey, v)
	return v, nil
}

// Single returns the one value of the query parameter name of c's request (strictly
// decoded, see Values): "" and ok false when it is absent. A parameter given more
// than once is bad_request: taking one of its values would drop the others silently.
func Single(c echo.Context, name string) (v string, ok bool, err error) {
	q, err := Values(c)
	if err != nil {
		return "", false, err
	}
	vs := q[name]
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], true, nil
	}
	return "", false, protocol.Errorf(protocol.CodeBadRequest, "parameter %s given more than once", clipName(name))
}

// Bool reads an optional boolean query parameter as every route does: absent, "",
// "false" or "0" is false, "true" or "1" true; anything else, or the parameter given
// more than once, is bad_request.
func Bool(c echo.Context, name string) (bool, error) {
	v, _, err := Single(c, name)
	if err != nil {
		return false, err
	}
	switch v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, protocol.Errorf(protocol.CodeBadRequest, "parameter %s must be true or false", clipName(name))
}

// clipName clips a parameter name for an error message (maxNameInError bytes on a
// rune boundary).
func clipName(name string) string {
	if len(name) <= maxNameInError {
		return name
	}
	return strings.ToValidUTF8(name[:maxNameInError], "") + "…"
}

// Param returns the value of the query parameter name of c's request ("" when it is
// absent), as Single does.
func Param(c echo.Context, name string) (string, error) {
	v, _, err := Single(c, name)
	return v, err
}
