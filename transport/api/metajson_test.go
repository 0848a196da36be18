package api

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestAnswerMetaAsJSON: an upload's answer (answerMeta) is byte for byte, header for
// header, what echo's c.JSON writes, for plain paths (encoded by hand) and for every
// kind of path, hash, time and query that must go through encoding/json instead.
func TestAnswerMetaAsJSON(t *testing.T) {
	at := time.Date(2026, 12, 6, 4, 5, 6, 789000000, time.UTC)
	paths := []string{
		"a.txt", "dir/sub/f00001.bin", "", "Ünïcödé/日本語.txt", "emoji 😀.txt",
		`quote".txt`, `back\slash`, "a<b>&c", "amp&only", "gt>only", "tab\tname", "nul\x00", "del\x7f",
		"line\u2028sep", "para\u2029sep", "bad\xffutf8", "\xc3", "sp ace/x y",
	}
	metas := []protocol.Metadata{}
	for i, p := range paths {
		metas = append(metas, protocol.Metadata{Path: p, Size: int64(i * 4096), Modified: at, Hash: "ab01ff", Seq: int64(i)})
	}
	metas = append(metas,
		protocol.Metadata{Path: "d", IsDirectory: true, Modified: at.Truncate(time.Second)},
		protocol.Metadata{Path: "zero"},
		protocol.Metadata{Path: "local", Modified: at.In(time.FixedZone("x", 3600+1800)), Size: -1, Seq: -5},
		protocol.Metadata{Path: "far", Modified: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		protocol.Metadata{Path: "old", Modified: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		protocol.Metadata{Path: "h", Hash: "<&>", Modified: at},
		protocol.Metadata{Path: "max", Size: 1<<63 - 1, Seq: -1 << 63, Modified: at.Add(time.Nanosecond)},
	)
	e := echo.New()
	for _, query := range []string{"", "pretty", "x=1"} {
		for _, status := range []int{200, 201} {
			for _, m := range metas {
				answer := func(fn func(echo.Context) error) *httptest.ResponseRecorder {
					rec := httptest.NewRecorder()
					req := httptest.NewRequest("PUT", "/api/files/x?"+query, nil)
					if query == "" {
						req.URL.RawQuery = ""
					}
					if err := fn(e.NewContext(req, rec)); err != nil {
						rec.Code = -1 // an error: both must fail alike
					}
					return rec
				}
				got := answer(func(c echo.Context) error { return answerMeta(c, status, m) })
				want := answer(func(c echo.Context) error { return c.JSON(status, m) })
				if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) ||
					got.Header().Get("Content-Type") != want.Header().Get("Content-Type") || len(got.Header()) != len(want.Header()) {
					t.Errorf("query %q, %+v:\n got %d %v %q\nwant %d %v %q", query, m,
						got.Code, got.Header(), got.Body.String(), want.Code, want.Header(), want.Body.String())
				}
			}
		}
	}
	// The hand-encoded path is the one taken for a plain upload answer.
	if _, ok := appendMeta(nil, metas[1]); !ok {
		t.Errorf("a plain path was not encoded by hand")
	}
}
