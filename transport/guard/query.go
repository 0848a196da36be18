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

// Param returns the value of the query parameter name of c's request ("" when it is
// absent), decoded strictly (Values). A parameter given more than once is bad_request:
// taking one of the values would drop the others silently.
func Param(c echo.Context, name string) (string, error) {
	q, err := Values(c)
	if err != nil {
		return "", err
	}
	vs := q[name]
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", protocol.Errorf(protocol.CodeBadRequest, "query parameter %s given more than once", name)
}
