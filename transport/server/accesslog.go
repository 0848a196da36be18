package server

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// AccessLog writes the request log's lines itself, byte for byte as the handler the
// daemon logs through would write them (slog.NewTextHandler, or slog.NewJSONHandler
// with JSON, on W with HandlerOptions holding only Level: no AddSource, ReplaceAttr,
// groups or attributes added by With), without slog's generic work per record
// (a Record, the attributes' dispatch, the handler's state). It is one line a request
// on the request path; TestAccessLogMatchesSlog holds its output to slog's.
//
// W receives one Write per line and is shared with that handler, so it must be safe
// for concurrent use (the daemon wraps its log output in a LockedWriter for both).
type AccessLog struct {
	W     io.Writer
	JSON  bool
	Level slog.Level // the handler's minimum level
	// Node, when set, is written last as the attribute node, as the daemon's logger
	// in cluster mode adds it to every record (cluster.node_id).
	Node string
}

// accessRecord is one request log line.
type accessRecord struct {
	time                time.Time
	level               slog.Level
	method, path, route string
	status              int
	bytes               int64
	duration            time.Duration
	remote              string
	node                string // AccessLog.Node ("": none)
}

// attrs are the line's attributes for slog (the path without an AccessLog).
func (r *accessRecord) attrs() []slog.Attr {
	a := []slog.Attr{
		slog.String("method", r.method),
		slog.String("path", r.path),
		slog.String("route", r.route),
		slog.Int("status", r.status),
		slog.Int64("bytes", r.bytes),
		slog.Duration("duration", r.duration),
		slog.String("remote", r.remote),
	}
	if r.node != "" {
		a = append(a, slog.String("node", r.node))
	}
	return a
}

// lineBufs holds line buffers; one over maxPooledLine is not kept.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledLine = 16 << 10

func (a *AccessLog) enabled(level slog.Level) bool { return level >= a.Level }

// write formats r and writes it to W in one Write. It reports false, writing
// nothing, for a record whose line it would not write as slog does (a time whose
// year has not 4 digits, which the JSON handler reports as an error).
func (a *AccessLog) write(r *accessRecord) bool {
	if y := r.time.Year(); y < 0 || y >= 10000 {
		return false
	}
	r.node = a.Node
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	if a.JSON {
		b = appendJSONLine(b, r)
	} else {
		b = appendTextLine(b, r)
	}
	_, _ = a.W.Write(b) // slog's Logger drops a handler's write error too
	if cap(b) <= maxPooledLine {
		*bp = b[:0]
		lineBufs.Put(bp)
	}
	return true
}

// appendTextLine appends r as slog's TextHandler writes it.
func appendTextLine(b []byte, r *accessRecord) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, r.time.Round(0))
	b = append(b, " level="...)
	b = appendTextString(b, r.level.String())
	b = append(b, " msg=request method="...)
	b = appendTextString(b, r.method)
	b = append(b, " path="...)
	b = appendTextString(b, r.path)
	b = append(b, " route="...)
	b = appendTextString(b, r.route)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, r.bytes, 10)
	b = append(b, " duration="...)
	b = append(b, r.duration.String()...)
	b = append(b, " remote="...)
	b = appendTextString(b, r.remote)
	if r.node != "" {
		b = append(b, " node="...)
		b = appendTextString(b, r.node)
	}
	return append(b, '\n')
}

// appendJSONLine appends r as slog's JSONHandler writes it.
func appendJSONLine(b []byte, r *accessRecord) []byte {
	b = append(b, `{"time":"`...)
	b = r.time.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = appendJSONString(b, r.level.String())
	b = append(b, `,"msg":"request","method":`...)
	b = appendJSONString(b, r.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, r.path)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, r.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, r.bytes, 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(r.duration), 10)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, r.remote)
	if r.node != "" {
		b = append(b, `,"node":`...)
		b = appendJSONString(b, r.node)
	}
	return append(b, "}\n"...)
}

// appendRFC3339Millis is slog's time format in text: RFC 3339 with exactly three
// digits of (truncated) milliseconds.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...) // drop the 4th digit
}

// jsonSafe reports whether ASCII byte c stands for itself in a JSON string as slog
// writes it (no HTML escaping).
func jsonSafe(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' }

// appendTextString appends s as slog's TextHandler does: as it is, or quoted
// (strconv.Quote) when it is empty or holds a space, '=', a character JSON escapes
// (but '\\'), invalid UTF-8, or a non-printing or space rune.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func textNeedsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (c == ' ' || c == '=' || !jsonSafe(c)) {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as slog's JSONHandler does: encoding/json's
// escapes without the HTML ones, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
