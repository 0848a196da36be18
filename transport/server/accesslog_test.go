package server

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/metrics"
)

// slogLine is the line slog's handler (text or JSON, only a Level set) writes for r.
func slogLine(t *testing.T, json bool, r *accessRecord) string {
	t.Helper()
	var buf bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler = slog.NewTextHandler(&buf, opts)
	if json {
		h = slog.NewJSONHandler(&buf, opts)
	}
	rec := slog.NewRecord(r.time, r.level, "request", 0)
	rec.AddAttrs(r.attrs()...)
	if err := h.Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestAccessLogMatchesSlog: AccessLog writes the bytes slog's TextHandler and
// JSONHandler write, for strings that need quoting or escaping in either format
// (spaces, '=', quotes, backslashes, control characters, invalid UTF-8, non-printing
// and space runes, U+2028), empty strings, times in several zones and at millisecond
// edges (with a monotonic reading, as time.Now gives), and durations of every scale.
func TestAccessLogMatchesSlog(t *testing.T) {
	pieces := []string{"", "a", "/api/files/x.bin", " ", "=", `"`, `\`, "\n", "\r", "\t", "\x00", "\x1f", "\x7f",
		"é", "日本", "\xff", "\xc3", "\u2028", "\u2029", "\u00a0", "\u200b", "\ufeff", "<>&", "'", "%20", "+", ":", "[::1]"}
	rnd := rand.New(rand.NewPCG(7, 9))
	str := func() string {
		var sb strings.Builder
		for n := rnd.IntN(4); n > 0; n-- {
			sb.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		return sb.String()
	}
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", 5*3600+30*60), time.FixedZone("X", -8*3600)}
	base := time.Now()
	times := []time.Time{base, base.Truncate(time.Millisecond), base.Truncate(time.Second),
		base.Truncate(time.Millisecond).Add(999_999), time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}
	durs := []time.Duration{0, 1, 999, time.Microsecond, 1500 * time.Microsecond, time.Second, 90 * time.Minute, -5}
	for i := 0; i < 20000; i++ {
		tm := times[rnd.IntN(len(times))]
		if i%2 == 1 {
			tm = tm.In(zones[rnd.IntN(len(zones))])
		}
		r := &accessRecord{
			time: tm, level: []slog.Level{slog.LevelInfo, slog.LevelError}[rnd.IntN(2)],
			method: []string{"GET", "PUT", "HEAD", str()}[rnd.IntN(4)], path: str(), route: str(),
			status: []int{200, 201, 404, 500, 0}[rnd.IntN(5)], bytes: rnd.Int64N(1 << 40),
			duration: durs[rnd.IntN(len(durs))] * time.Duration(1+rnd.IntN(3)), remote: str(),
		}
		node := []string{"", "node-1", str()}[rnd.IntN(3)]
		for _, json := range []bool{false, true} {
			var got bytes.Buffer
			al := &AccessLog{W: &got, JSON: json, Node: node}
			if !al.write(r) {
				t.Fatalf("write refused %+v", r)
			}
			if want := slogLine(t, json, r); got.String() != want {
				t.Fatalf("json=%v\n got %q\nwant %q", json, got.String(), want)
			}
		}
	}
	// A year slog's JSON handler reports as an error is left to slog.
	r := &accessRecord{time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if (&AccessLog{W: &bytes.Buffer{}}).write(r) {
		t.Fatal("a 5-digit year was written")
	}
}

// TestRequestLogThroughAccessLog: a request's log line written through AccessLog
// equals the one written through the slog logger, time and duration aside, at the
// logger's level (a 200 is not written at warn; a 500 is).
func TestRequestLogThroughAccessLog(t *testing.T) {
	for _, json := range []bool{false, true} {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
			var viaSlog, viaAL bytes.Buffer
			logger := func(w *bytes.Buffer) *slog.Logger {
				opts := &slog.HandlerOptions{Level: level}
				if json {
					return slog.New(slog.NewJSONHandler(w, opts))
				}
				return slog.New(slog.NewTextHandler(w, opts))
			}
			for _, e := range []*echo.Echo{
				newEcho(logger(&viaSlog), nil, metrics.New(), guard.Options{}, nil),
				// The other lines (the error handler's) still go through slog.
				newEcho(logger(&viaAL), &AccessLog{W: &viaAL, JSON: json, Level: level}, metrics.New(), guard.Options{}, nil),
			} {
				e.GET("/x/*", func(c echo.Context) error { return c.String(http.StatusOK, "hello") })
				e.GET("/boom", func(c echo.Context) error { return echo.NewHTTPError(http.StatusInternalServerError) })
				for _, target := range []string{"/x/a%20b?token=secret", "/boom", "/nothing"} {
					req := httptest.NewRequest(http.MethodGet, target, nil)
					req.RemoteAddr = "192.0.2.7:5555"
					e.ServeHTTP(httptest.NewRecorder(), req)
				}
			}
			norm := func(s string) string {
				var out []string
				for _, f := range strings.Fields(strings.NewReplacer(",", " ", "{", " ", "}", " ").Replace(s)) {
					if !strings.Contains(f, "time") && !strings.Contains(f, "duration") {
						out = append(out, f)
					}
				}
				return strings.Join(out, " ")
			}
			if viaSlog.Len() == 0 || norm(viaAL.String()) != norm(viaSlog.String()) {
				t.Fatalf("json=%v level=%v:\naccess log %q\nslog       %q", json, level, viaAL.String(), viaSlog.String())
			}
			if strings.Contains(viaAL.String(), "secret") {
				t.Fatal("the query string was logged")
			}
			if wantLines := map[slog.Level]int{slog.LevelInfo: 4, slog.LevelWarn: 2}[level]; strings.Count(viaAL.String(), "\n") != wantLines {
				t.Fatalf("level %v: %d lines, want %d:\n%s", level, strings.Count(viaAL.String(), "\n"), wantLines, viaAL.String())
			}
		}
	}
}
