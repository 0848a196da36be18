package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestChangesLimit: absent, empty or 0 is the default; above protocol.MaxChangesLimit
// is clamped to it (SPEC §3), however many digits; anything but digits is refused.
func TestChangesLimit(t *testing.T) {
	e := echo.New()
	for _, tt := range []struct {
		query string
		want  int
		bad   bool
	}{
		{"", protocol.DefaultChangesLimit, false},
		{"limit=", protocol.DefaultChangesLimit, false},
		{"limit=0", protocol.DefaultChangesLimit, false},
		{"limit=1", 1, false},
		{"limit=10000", 10000, false},
		{"limit=10001", 10000, false},
		{"limit=20000", 10000, false},
		{"limit=9223372036854775807", 10000, false},
		{"limit=99999999999999999999999999", 10000, false},

		// attacks
		{"limit=-1", 0, true},
		{"limit=%2B1", 0, true},
		{"limit=1e4", 0, true},
		{"limit=0x10", 0, true},
		{"limit=%201", 0, true},
		{"limit=1&limit=2", 0, true},
		{"limit=%zz", 0, true},
	} {
		c := e.NewContext(httptest.NewRequest("GET", "/api/changes?"+tt.query, nil), httptest.NewRecorder())
		got, err := changesLimit(c)
		if tt.bad {
			if err == nil || protocol.CodeOf(err) != protocol.CodeBadRequest {
				t.Errorf("%q: %d, %v; want bad_request", tt.query, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %d, %v; want %d", tt.query, got, err, tt.want)
		}
	}
}

// TestUsageAnswer: zero (unlimited) quota and max_entries are null, never 0.
func TestUsageAnswer(t *testing.T) {
	for _, tt := range []struct {
		u    protocol.Usage
		want string
	}{
		{protocol.Usage{Used: 3, Entries: 1}, `{"used":3,"quota":null,"entries":1,"max_entries":null}`},
		{protocol.Usage{Used: 3, Quota: 10, Entries: 1, MaxEntries: 5}, `{"used":3,"quota":10,"entries":1,"max_entries":5}`},
		{protocol.Usage{Quota: 10}, `{"used":0,"quota":10,"entries":0,"max_entries":null}`},
	} {
		b, err := json.Marshal(newUsageAnswer(tt.u))
		if err != nil || string(b) != tt.want {
			t.Errorf("%+v: %s, want %s", tt.u, b, tt.want)
		}
	}
}

// FuzzChangesLimit: any limit parameter gives a limit in [1, MaxChangesLimit] or
// bad_request, never a panic.
func FuzzChangesLimit(f *testing.F) {
	for _, s := range []string{"limit=5", "limit=99999999999999999999", "limit=-1", "limit=%zz", ""} {
		f.Add(s)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/api/changes", nil)
		req.URL.RawQuery = query
		n, err := changesLimit(e.NewContext(req, httptest.NewRecorder()))
		if err != nil {
			if protocol.CodeOf(err) != protocol.CodeBadRequest {
				t.Fatalf("%q: %v", query, err)
			}
			return
		}
		if n < 1 || n > protocol.MaxChangesLimit {
			t.Fatalf("%q: limit %d", query, n)
		}
	})
}
