package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/guard"
)

// filesPrefix is the route prefix of /api/files/{path}.
const filesPrefix = "/api/files/"

var clientIDPattern = regexp.MustCompile(protocol.ClientIDPatternString)

// validClientID is clientIDPattern.MatchString written out (1 to 64 bytes of
// A-Z a-z 0-9 . _ -), which a request pays on every write; TestValidClientID holds it
// to the pattern.
func validClientID(v string) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// filePath returns the cleaned tenant path of a /api/files/{path} request. It uses the
// URL path as net/http decoded it (percent-decoded exactly once), never Echo's
// route parameter, which would be unescaped a second time.
func filePath(r *http.Request) (string, error) {
	return prefixedPath(r, filesPrefix)
}

// prefixedPath is filePath for the route prefix prefix (/api/files/, /api/chunks/,
// /api/delta/).
func prefixedPath(r *http.Request, prefix string) (string, error) {
	p, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		return "", protocol.Errorf(protocol.CodeInvalidPath, "invalid path")
	}
	return pathrule.Clean(p)
}

// dirQuery returns the cleaned tenant directory of the path query parameter ("" for
// the root when absent or empty). The path rules are SPEC §3's, as for files: a
// trailing '/' is an empty segment, and a leading '/' is refused.
func dirQuery(c echo.Context) (string, error) {
	raw, err := guard.Param(c, "path")
	if err != nil {
		return "", err
	}
	return pathrule.CleanDir(raw)
}

// uploadHeaders are the checked upload headers of a PUT.
type uploadHeaders struct {
	SHA256      string
	IfMatch     string // hash, "" if absent
	IfMatchAny  bool   // If-Match: *
	IfNoneMatch bool   // If-None-Match: *
	ClientID    string
	Modified    time.Time
}

// The X-Modified range (SPEC §3): the Unix epoch to the last instant a mtime in
// nanoseconds since the epoch can hold (2262-04-11T23:47:16.854775807Z). A time past
// it once wrapped around when stored (year 9999 became 1901).
var (
	minModified = time.Unix(0, 0).UTC()
	maxModified = time.Unix(0, math.MaxInt64).UTC()
)

// parseUploadHeaders checks the headers of a PUT (SPEC §3). Errors are *protocol.Error
// bad_request, or unsupported_media_type for a non-identity Content-Encoding.
func parseUploadHeaders(h http.Header) (uploadHeaders, error) {
	var u uploadHeaders
	if err := checkIdentityEncoding(h); err != nil {
		return u, err
	}
	if v, ok, err := single(h, "X-Content-Sha256"); err != nil {
		return u, err
	} else if ok {
		s, err := parseHash(v)
		if err != nil {
			return u, protocol.Errorf(protocol.CodeBadRequest, "X-Content-SHA256 must be 64 hex digits")
		}
		u.SHA256 = s
	}
	if v, ok, err := single(h, "If-Match"); err != nil {
		return u, err
	} else if ok {
		if strings.TrimSpace(v) == "*" {
			u.IfMatchAny = true
		} else {
			s, err := parseETag(v)
			if err != nil {
				return u, err
			}
			u.IfMatch = s
		}
	}
	if v, ok, err := single(h, "If-None-Match"); err != nil {
		return u, err
	} else if ok {
		if strings.TrimSpace(v) != "*" {
			return u, protocol.Errorf(protocol.CodeBadRequest, `If-None-Match on upload must be "*"`)
		}
		u.IfNoneMatch = true
	}
	id, err := parseClientID(h)
	if err != nil {
		return u, err
	}
	u.ClientID = id
	if v, ok, err := single(h, "X-Modified"); err != nil {
		return u, err
	} else if ok {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
		if err != nil {
			return u, protocol.Errorf(protocol.CodeBadRequest, "X-Modified must be an RFC 3339 time")
		}
		if t.Before(minModified) || t.After(maxModified) {
			return u, protocol.Errorf(protocol.CodeBadRequest, "X-Modified must lie between 1970-01-01 and 2262-04-11 (UTC)")
		}
		u.Modified = t.UTC()
	}
	return u, nil
}

// parseClientID returns the X-Sync-Client-Id header ("" if absent).
func parseClientID(h http.Header) (string, error) {
	v, ok, err := single(h, "X-Sync-Client-Id")
	if err != nil || !ok {
		return "", err
	}
	if !validClientID(v) {
		return "", protocol.Errorf(protocol.CodeBadRequest, "X-Sync-Client-Id must match %s", protocol.ClientIDPatternString)
	}
	return v, nil
}

// single returns the one value of header k, a canonical key (as net/http stores a
// request's keys: a direct lookup, without Header.Values' canonicalization of k);
// several values are a bad request.
func single(h http.Header, k string) (string, bool, error) {
	vs := h[k]
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], true, nil
	}
	return "", false, protocol.Errorf(protocol.CodeBadRequest, "header %s given more than once", http.CanonicalHeaderKey(k))
}

// checkIdentityEncoding refuses a request body with a non-identity Content-Encoding.
func checkIdentityEncoding(h http.Header) error {
	for _, v := range h.Values("Content-Encoding") {
		for _, enc := range strings.Split(v, ",") {
			enc = strings.TrimSpace(enc)
			if enc != "" && !strings.EqualFold(enc, "identity") {
				return protocol.Errorf(protocol.CodeUnsupportedMedia, "Content-Encoding is not supported")
			}
		}
	}
	return nil
}

// parseHash checks a lowercase or uppercase hex SHA-256 and returns it in lowercase.
func parseHash(v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) != 64 {
		return "", errors.New("bad length")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", errors.New("not hex")
		}
	}
	return strings.ToLower(v), nil
}

// noMatchETag stands for a well-formed entity tag that is no content hash (or a weak
// one): it matches nothing, so the precondition fails with 412 as RFC 9110's strong
// comparison and SPEC §3 ("412 unless the current content has that hash") say.
const noMatchETag = "-"

// parseETag parses a strong entity tag `"<hash>"` (quotes optional, as some clients
// drop them) into the hash. A well-formed quoted tag that is not a SHA-256, or a weak
// tag, yields noMatchETag; anything else is bad_request.
func parseETag(v string) (string, error) {
	v = strings.TrimSpace(v)
	quoted := false
	weak := false
	if rest, ok := strings.CutPrefix(v, "W/"); ok {
		weak, v = true, rest
	}
	if strings.HasPrefix(v, `"`) {
		if len(v) < 2 || !strings.HasSuffix(v, `"`) || !etagChars(v[1:len(v)-1]) {
			return "", protocol.Errorf(protocol.CodeBadRequest, "malformed entity tag")
		}
		v, quoted = v[1:len(v)-1], true
	} else if weak {
		return "", protocol.Errorf(protocol.CodeBadRequest, "malformed entity tag")
	}
	s, err := parseHash(v)
	switch {
	case err == nil && !weak:
		return s, nil
	case quoted:
		return noMatchETag, nil
	default:
		return "", protocol.Errorf(protocol.CodeBadRequest, `entity tag must be "<sha256 hex>"`)
	}
}

// etagChars reports whether s holds only RFC 9110 etagc characters.
func etagChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != 0x21 && (c < 0x23 || c == 0x7f) {
			return false
		}
	}
	return true
}

// parseInt parses an optional non-negative integer query parameter.
func parseInt(c echo.Context, name string, def int64) (int64, error) {
	v, err := guard.Param(c, name)
	if err != nil {
		return 0, err
	}
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "parameter %s must be a non-negative integer", name)
	}
	return n, nil
}

// ifSeqParam reads DELETE's if_seq precondition: has is false only when it is absent.
// An explicit 0 is a precondition too (an existing path fails it), and an empty value
// is bad_request, never read as "no precondition".
func ifSeqParam(c echo.Context) (seq int64, has bool, err error) {
	raw, has, err := guard.Single(c, "if_seq")
	if err != nil || !has {
		return 0, false, err
	}
	n, perr := strconv.ParseInt(raw, 10, 64)
	if perr != nil || n < 0 {
		return 0, false, protocol.Errorf(protocol.CodeBadRequest, "parameter if_seq must be a non-negative integer")
	}
	return n, true, nil
}

// decodeJSON reads a JSON request body of at most protocol.MaxJSONBody bytes into dst:
// one object, no unknown fields, nothing after it.
func decodeJSON(r *http.Request, w http.ResponseWriter, dst any) error {
	if err := checkIdentityEncoding(r.Header); err != nil {
		return err
	}
	if r.ContentLength > protocol.MaxJSONBody {
		return protocol.Errorf(protocol.CodeTooLarge, "JSON body over %d bytes", protocol.MaxJSONBody)
	}
	body := http.MaxBytesReader(w, r.Body, protocol.MaxJSONBody)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return protocol.Errorf(protocol.CodeTooLarge, "JSON body over %d bytes", protocol.MaxJSONBody)
		}
		if errors.Is(err, guard.ErrSlowBody) {
			return guard.ErrSlowBody
		}
		return protocol.Errorf(protocol.CodeBadRequest, "reading request body failed")
	}
	return unmarshalStrict(data, dst)
}

// unmarshalStrict decodes exactly one JSON object into dst, refusing unknown fields and
// trailing data. Errors are bad_request and name the field at fault when there is one
// (an unknown field, a value of the wrong type).
func unmarshalStrict(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return protocol.Errorf(protocol.CodeBadRequest, "invalid JSON body: data after the object")
	}
	return nil
}

// maxFieldInError bounds how much of a field name an error message quotes.
const maxFieldInError = 64

// jsonError turns an encoding/json decoding error into a bad_request that names the
// field at fault without quoting the body: `unknown field "pth"`, `field "path": want
// a string`.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return protocol.Errorf(protocol.CodeBadRequest, "invalid JSON body: field %s: want %s", quoteField(te.Field), jsonKind(te.Type.Kind().String()))
	case errors.As(err, &te):
		return protocol.Errorf(protocol.CodeBadRequest, "invalid JSON body: want a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil {
			name = "?"
		}
		return protocol.Errorf(protocol.CodeBadRequest, "invalid JSON body: unknown field %s", quoteField(name))
	case errors.Is(err, io.EOF):
		return protocol.Errorf(protocol.CodeBadRequest, "invalid JSON body: empty (want a JSON object)")
	case errors.As(err, &se):
		return protocol.Errorf(protocol.CodeBadRequest, "invalid JSON body: syntax error at byte %d", se.Offset)
	}
	return protocol.Errorf(protocol.CodeBadRequest, "invalid JSON body")
}

// quoteField quotes a field name for an error message, clipped to maxFieldInError
// bytes on a rune boundary.
func quoteField(name string) string {
	if len(name) > maxFieldInError {
		name = strings.ToValidUTF8(name[:maxFieldInError], "") + "…"
	}
	return strconv.Quote(name)
}

// jsonKind names a Go kind the way a JSON user reads it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	if strings.HasPrefix(k, "int") || strings.HasPrefix(k, "uint") || strings.HasPrefix(k, "float") {
		return "a number"
	}
	return "another type"
}
