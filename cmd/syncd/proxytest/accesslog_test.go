//go:build !windows

package proxytest

import (
	"net/http"
	"regexp"
	"testing"
)

// TestRequestLogNamesClient: behind the shipped nginx file, syncd's request log names
// the client's address (from X-Forwarded-For, set by the trusted proxy), not the
// proxy's, and not the address a client forges in that header; a client reaching
// syncd directly with a forged header is logged under its own address too. (The log
// named the proxy for every request: Echo's RealIP was the TCP peer.)
func TestRequestLogNamesClient(t *testing.T) {
	e := startShipped(t)
	forged := map[string]string{"X-Forwarded-For": "203.0.113.7"}
	if code, body, _ := do(t, clientFrom("127.0.0.3", e.trust), "GET", e.base+"/api/usage", e.write, nil, forged); code != http.StatusOK {
		t.Fatalf("GET /api/usage through the proxy: %d %s", code, body)
	}
	if code, body, _ := do(t, clientFrom("127.0.0.4", e.trust), "GET", e.srv.URL+"/api/list", e.write, nil, forged); code != http.StatusOK {
		t.Fatalf("GET /api/list directly: %d %s", code, body)
	}
	logs := e.logs.String()
	for _, want := range []string{
		`msg=request method=GET path=/api/usage route=/api/usage status=200 .* remote=127\.0\.0\.3\n`,
		`msg=request method=GET path=/api/list route=/api/list status=200 .* remote=127\.0\.0\.4\n`,
	} {
		if !regexp.MustCompile(want).MatchString(logs) {
			t.Errorf("no request log line matching %q", want)
		}
	}
}
