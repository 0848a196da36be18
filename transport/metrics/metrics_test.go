package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return string(b)
}

func TestMiddlewareLabelsByRouteTemplate(t *testing.T) {
	m := New()
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/api/files/*", func(c echo.Context) error { return c.String(200, "ok") })
	e.GET("/api/list", func(c echo.Context) error { return echo.NewHTTPError(http.StatusUnauthorized, "no") })
	e.GET("/api/boom", func(c echo.Context) error { return errors.New("boom") })
	srv := httptest.NewServer(e)
	defer srv.Close()
	for _, p := range []string{
		"/api/files/secret-name.txt?token=abc",
		"/api/files/other/name.bin",
		"/api/list?path=private",
		"/api/boom",
		"/no/such/route/with-a-unique-name",
	} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	out := scrape(t, m)
	for _, want := range []string{
		`syncd_http_request_duration_seconds_count{method="GET",route="/api/files/*",status="200"} 2`,
		`syncd_http_request_duration_seconds_count{method="GET",route="/api/list",status="401"} 1`,
		`syncd_http_request_duration_seconds_count{method="GET",route="/api/boom",status="500"} 1`,
		`syncd_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1`,
		`syncd_auth_failures_total{transport="http"} 1`,
		`syncd_auth_failures_total{transport="ws"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	// attacks: raw paths and queries never become labels
	for _, leak := range []string{"secret-name", "token=abc", "private", "unique-name", "other/name"} {
		if strings.Contains(out, leak) {
			t.Errorf("metrics leak %q", leak)
		}
	}
}

func TestHubCounters(t *testing.T) {
	m := New()
	m.ConnOpened("acme")
	m.ConnOpened("acme")
	m.ConnOpened("gone")
	m.ConnClosed("acme", 1)
	m.ConnClosed("gone", 0)
	m.EventBroadcast(3)
	m.EventBroadcast(0)
	m.SlowConsumerClosed()
	m.AuthFailed(TransportWS)
	out := scrape(t, m)
	for _, want := range []string{
		`syncd_ws_connections{tenant="acme"} 1`,
		`syncd_ws_events_broadcast_total 2`,
		`syncd_ws_events_queued_total 3`,
		`syncd_ws_slow_consumer_closes_total 1`,
		`syncd_auth_failures_total{transport="ws"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, `tenant="gone"`) {
		t.Error("closed tenant's series kept")
	}
}

func TestNilMetricsIsNoop(t *testing.T) {
	var m *Metrics
	m.ConnOpened("a")
	m.ConnClosed("a", 0)
	m.EventBroadcast(1)
	m.SlowConsumerClosed()
	m.AuthFailed(TransportHTTP)
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/x", func(c echo.Context) error { return c.NoContent(204) })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 204 {
		t.Fatal(rec.Code)
	}
	_ = scrape(t, m)
}

func TestSeparateRegistries(t *testing.T) {
	a, b := New(), New()
	a.SlowConsumerClosed()
	if strings.Contains(scrape(t, b), "syncd_ws_slow_consumer_closes_total 1") {
		t.Fatal("registries shared")
	}
}

// TestMiddlewareBoundsMethodLabel: a request method is any token a client makes up;
// unknown ones share one label value, so that a stream of invented methods (no token
// needed) cannot grow the registry (and every scrape) without bound.
func TestMiddlewareBoundsMethodLabel(t *testing.T) {
	m := New()
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/api/list", func(c echo.Context) error { return c.String(200, "ok") })
	srv := httptest.NewServer(e)
	defer srv.Close()
	for _, method := range []string{"INVENTED1", "INVENTED2", "get", "DELETE", "GET"} {
		req, _ := http.NewRequest(method, srv.URL+"/api/list", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	out := scrape(t, m)
	for _, want := range []string{
		`syncd_http_request_duration_seconds_count{method="other",route="/api/list",status="405"} 3`,
		`syncd_http_request_duration_seconds_count{method="DELETE",route="/api/list",status="405"} 1`,
		`syncd_http_request_duration_seconds_count{method="GET",route="/api/list",status="200"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, leak := range []string{"INVENTED", `method="get"`} {
		if strings.Contains(out, leak) {
			t.Errorf("a made-up method became a label: %q", leak)
		}
	}
}
