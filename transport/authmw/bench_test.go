package authmw

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/httperr"
)

// BenchmarkAuthOverhead measures an authenticated small request through the full
// middleware against the same route with auth switched off, side by side in one run
// (requests alternate, so both see the same machine load). It reports each variant's
// time per request and ratio = throughput(auth on) / throughput(auth off); the target
// is ≥ 0.9.
//
// "loopback" goes through a real HTTP server on 127.0.0.1 with a keep-alive client (what
// a client sees); "inproc" calls the Echo handler directly with a recorder, the
// harshest view of the middleware's own cost.
func BenchmarkAuthOverhead(b *testing.B) {
	e := newEnv(b, Options{})
	tok, _ := issue(b, e.svc, "acme", "alice", auth.RoleRead)
	on := benchEcho(e.mw, true)
	off := benchEcho(e.mw, false)

	b.Run("loopback", func(b *testing.B) {
		srvOn, srvOff := httptest.NewServer(on), httptest.NewServer(off)
		defer srvOn.Close()
		defer srvOff.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		do := func(url string, withToken bool) {
			req, _ := http.NewRequest("GET", url, nil)
			if withToken {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		urlOn, urlOff := srvOn.URL+"/api/list", srvOff.URL+"/api/list"
		do(urlOn, true)
		do(urlOff, true)
		var dOn, dOff time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			do(urlOn, true)
			t1 := time.Now()
			do(urlOff, true) // same header sent, ignored
			dOff += time.Since(t1)
			dOn += t1.Sub(t0)
		}
		report(b, dOn, dOff)
	})

	b.Run("inproc", func(b *testing.B) {
		req := func() *http.Request {
			r := httptest.NewRequest("GET", "/api/list", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}
		var dOn, dOff time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r1, r2 := req(), req()
			w1, w2 := httptest.NewRecorder(), httptest.NewRecorder()
			t0 := time.Now()
			on.ServeHTTP(w1, r1)
			t1 := time.Now()
			off.ServeHTTP(w2, r2)
			dOff += time.Since(t1)
			dOn += t1.Sub(t0)
			if w1.Code != 200 || w2.Code != 200 {
				b.Fatalf("status %d %d", w1.Code, w2.Code)
			}
		}
		report(b, dOn, dOff)
	})
}

// benchEcho serves GET /api/list with a small fixed answer, behind the middleware or
// not; the handler does the same work either way.
func benchEcho(mw *Middleware, withAuth bool) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = httperr.Handler(slog.New(slog.DiscardHandler))
	h := func(c echo.Context) error {
		if withAuth && PrincipalFrom(c) == nil {
			return protocol.Errorf(protocol.CodeInternal, "no principal")
		}
		return c.Blob(http.StatusOK, "application/json", []byte(`{"epoch":"e","seq":1,"entries":[]}`))
	}
	if withAuth {
		e.GET("/api/list", h, mw.Tenant(auth.RoleRead))
	} else {
		e.GET("/api/list", h)
	}
	return e
}

func report(b *testing.B, dOn, dOff time.Duration) {
	b.Helper()
	n := float64(b.N)
	b.ReportMetric(float64(dOn.Nanoseconds())/n, "ns/req-auth")
	b.ReportMetric(float64(dOff.Nanoseconds())/n, "ns/req-noauth")
	ratio := float64(dOff) / float64(dOn)
	b.ReportMetric(ratio, "ratio")
	b.Logf("auth on %.0f ns/req, auth off %.0f ns/req, throughput ratio on/off = %.3f (n=%d)",
		float64(dOn.Nanoseconds())/n, float64(dOff.Nanoseconds())/n, ratio, b.N)
}
