package clientapp

import (
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// crashExit is the exit code of a child ended by RSC_CRASH_AT.
const crashExit = 86

// TestMain lets the test binary act as the real client process (for tests that kill
// it): with RSC_CHILD=1 it runs Run on its arguments after "--" and exits.
func TestMain(m *testing.M) {
	if os.Getenv("RSC_CHILD") == "1" {
		if at := os.Getenv("RSC_CRASH_AT"); at != "" {
			credentialStep = func(step string) {
				if step == at {
					os.Exit(crashExit) // as abrupt as SIGKILL for the credential file
				}
			}
		}
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Run(ctx, args, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// proxy is a reverse proxy in front of syncd for fault injection: it can refuse
// WebSocket upgrades and throttle downloads.
type proxy struct {
	URL        string
	refuseWS   atomic.Bool
	throttleBS atomic.Int64 // bytes per second for file downloads, 0 = full speed
	srv        *http.Server
}

type slowReader struct {
	r   io.ReadCloser
	bps int64
}

func (s *slowReader) Read(p []byte) (int, error) {
	chunk := int(s.bps / 20)
	if chunk < 1 {
		chunk = 1
	}
	if len(p) > chunk {
		p = p[:chunk]
	}
	time.Sleep(50 * time.Millisecond)
	return s.r.Read(p)
}

func (s *slowReader) Close() error { return s.r.Close() }

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	px := &proxy{}
	rp.ModifyResponse = func(resp *http.Response) error {
		if bps := px.throttleBS.Load(); bps > 0 && resp.Request.Method == http.MethodGet && strings.HasPrefix(resp.Request.URL.Path, "/api/files/") {
			resp.Body = &slowReader{r: resp.Body, bps: bps}
		}
		return nil
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" && px.refuseWS.Load() {
			http.Error(w, "upgrades refused by proxy", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	})
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	px.srv = &http.Server{Handler: h}
	go px.srv.Serve(ln)
	px.URL = "http://" + ln.Addr().String()
	t.Cleanup(func() { px.srv.Close() })
	return px
}
