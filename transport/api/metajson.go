package api

import (
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
)

// mimeJSON is the Content-Type value of answerMeta's answers; never written in place.
var mimeJSON = []string{echo.MIMEApplicationJSON}

// answerMeta answers status with meta as JSON: the bytes echo's c.JSON writes
// (encoding/json's encoder, HTML-escaping, a closing newline, Content-Type
// application/json unless set), built without reflection for the common case; a path
// that needs escaping, a time encoding/json refuses, or a request asking for indented
// JSON (echo's ?pretty) goes through c.JSON itself.
func answerMeta(c echo.Context, status int, meta protocol.Metadata) error {
	if c.Request().URL.RawQuery == "" && !c.Echo().Debug {
		if b, ok := appendMeta(make([]byte, 0, 192+len(meta.Path)), meta); ok {
			h := c.Response().Header()
			if v := h[echo.HeaderContentType]; len(v) == 0 || v[0] == "" {
				h[echo.HeaderContentType] = mimeJSON // what c.Blob would set (shared)
			}
			return c.Blob(status, echo.MIMEApplicationJSON, b)
		}
	}
	return c.JSON(status, meta)
}

// appendMeta appends meta as encoding/json's Encoder writes it (with its newline) and
// reports true, or reports false where the result could differ: a path or hash with
// a character encoding/json escapes, a time outside what time.Time.MarshalJSON
// accepts.
func appendMeta(b []byte, m protocol.Metadata) ([]byte, bool) {
	if !plainJSON(m.Path) || !plainJSON(m.Hash) {
		return b, false
	}
	mod, err := m.Modified.MarshalJSON()
	if err != nil {
		return b, false
	}
	b = append(b, `{"path":"`...)
	b = append(b, m.Path...)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, m.Size, 10)
	b = append(b, `,"modified":`...)
	b = append(b, mod...)
	b = append(b, `,"hash":"`...)
	b = append(b, m.Hash...)
	b = append(b, `","is_directory":`...)
	b = strconv.AppendBool(b, m.IsDirectory)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	return append(b, "}\n"...), true
}

// plainJSON reports whether encoding/json writes s between quotes unchanged: valid
// UTF-8 without control characters, quotes, backslashes, the HTML characters < > &
// it escapes, or U+2028 and U+2029.
func plainJSON(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += n
	}
	return true
}
