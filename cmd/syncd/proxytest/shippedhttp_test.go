//go:build !windows

package proxytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestShippedConfHTTP walks docs/deploy/syncd.nginx.conf with HTTP requests: health
// over HTTP/2 with HSTS, the redirect to https, the admin API and /metrics (served on
// syncd's loopback listener) kept off the proxy, range requests and HEAD, uploads
// refused before their body is read, a path as
// long as SPEC allows, a share link
// naming web.public_url, the web app's WebSocket, and the failed-authentication
// limiter keyed on the client's address (X-Forwarded-For from the trusted proxy), which
// a forged X-Forwarded-For does not escape.
func TestShippedConfHTTP(t *testing.T) {
	e := startShipped(t)
	c := clientFrom("127.0.0.1", e.trust)

	req, _ := http.NewRequest("GET", e.base+"/healthz", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("GET /healthz: %d %s, HSTS %q; want 200 over HTTP/2 with HSTS", resp.StatusCode, resp.Proto, resp.Header.Get("Strict-Transport-Security"))
	}
	if code, _, h := do(t, c, "GET", e.plain+"/readyz", "", nil, nil); code != http.StatusMovedPermanently || !strings.HasPrefix(h.Get("Location"), "https://") {
		t.Errorf("plain GET /readyz: %d to %q, want a redirect to https", code, h.Get("Location"))
	}
	if code, body, _ := do(t, c, "GET", e.base+"/readyz", "", nil, nil); code != 200 {
		t.Errorf("GET /readyz: %d %s", code, body)
	}

	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB: above nginx's default body limit
	if code, body, _ := do(t, c, "PUT", e.base+"/api/files/big.bin", e.write, bytes.NewReader(content), nil); code != http.StatusCreated {
		t.Fatalf("PUT 2 MiB: %d %s", code, body)
	}
	for _, p := range []string{"/admin/tenants", "/admin", "/metrics"} {
		if code, body, _ := do(t, c, "GET", e.base+p, "", nil, nil); code != http.StatusNotFound || strings.Contains(body, `"error"`) {
			t.Errorf("GET %s through the proxy: %d %s, want nginx's 404 (syncd's admin API stays local)", p, code, body)
		}
	}
	checkRangeAndHead(t, e, c, content)
	checkEarlyAnswers(t, e, c, content)
	checkLongPath(t, e, c)
	checkShareLink(t, e, c)
	checkWebAppSocket(t, e)
	checkLimiterPerClient(t, e)
}

func checkRangeAndHead(t *testing.T, e *shipped, c *http.Client, content []byte) {
	t.Helper()
	code, body, h := do(t, c, "GET", e.base+"/api/files/big.bin", e.write, nil, map[string]string{"Range": "bytes=1000-1999"})
	if code != http.StatusPartialContent || body != string(content[1000:2000]) || h.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(content)) {
		t.Errorf("range: %d, %d bytes, Content-Range %q", code, len(body), h.Get("Content-Range"))
	}
	code, body, h = do(t, c, "HEAD", e.base+"/api/files/big.bin", e.write, nil, nil)
	if code != 200 || body != "" || h.Get("Content-Length") != fmt.Sprint(len(content)) || h.Get("ETag") == "" {
		t.Errorf("HEAD: %d, body %d bytes, Content-Length %q, ETag %q", code, len(body), h.Get("Content-Length"), h.Get("ETag"))
	}
}

// checkEarlyAnswers sends 2 MiB bodies that syncd refuses before reading them (it
// answers and closes its connection instead of draining): the client gets syncd's
// answer, not a proxy error, and the next request works.
func checkEarlyAnswers(t *testing.T, e *shipped, c *http.Client, content []byte) {
	t.Helper()
	for _, r := range []struct {
		token string
		hdr   map[string]string
		want  int
	}{
		{e.write, map[string]string{"If-None-Match": "*"}, http.StatusPreconditionFailed},
		{"not-a-token", nil, http.StatusUnauthorized},
	} {
		if code, body, _ := do(t, c, "PUT", e.base+"/api/files/big.bin", r.token, bytes.NewReader(content), r.hdr); code != r.want {
			t.Errorf("refused PUT of 2 MiB: %d %.200s, want %d", code, body, r.want)
		}
	}
	if code, body, _ := do(t, c, "GET", e.base+"/api/usage", e.write, nil, nil); code != 200 {
		t.Errorf("GET after the refused PUTs: %d %.200s", code, body)
	}
}

// checkLongPath moves a file whose path is as long as SPEC allows (4096 bytes, here
// 16 segments of 85 three-byte characters: 12 KiB in the request line once
// percent-encoded) through the proxy. (nginx's default request-line buffer, 8 KiB,
// answered 414.)
func checkLongPath(t *testing.T, e *shipped, c *http.Client) {
	t.Helper()
	segs := make([]string, 16)
	for i := range segs {
		segs[i] = url.PathEscape(strings.Repeat("文", 85))
	}
	dir := strings.Join(segs[:15], "/")
	long := dir + "/" + url.PathEscape(strings.Repeat("文", 84)+"x")
	if code, body, _ := do(t, c, "PUT", e.base+"/api/files/"+long, e.write, strings.NewReader("deep"), nil); code != http.StatusCreated {
		t.Fatalf("PUT a 4096-byte path: %d %.200s", code, body)
	}
	if code, body, _ := do(t, c, "GET", e.base+"/api/files/"+long, e.write, nil, nil); code != 200 || body != "deep" {
		t.Errorf("GET a 4096-byte path: %d %.200s", code, body)
	}
	if code, body, _ := do(t, c, "GET", e.base+"/api/list?path="+dir, e.write, nil, nil); code != 200 {
		t.Errorf("GET /api/list of its folder: %d %.200s", code, body)
	}
}

func checkShareLink(t *testing.T, e *shipped, c *http.Client) {
	t.Helper()
	if code, body, _ := do(t, c, "PUT", e.base+"/api/files/note.txt", e.write, strings.NewReader("shared"), nil); code != http.StatusCreated {
		t.Fatalf("PUT note.txt: %d %s", code, body)
	}
	code, body, _ := do(t, c, "POST", e.base+"/api/shares", e.write, strings.NewReader(`{"path":"note.txt","expires_in":"1h"}`),
		map[string]string{"Content-Type": "application/json"})
	var link struct{ URL string }
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &link) != nil || !strings.HasPrefix(link.URL, e.base+"/s/") {
		t.Fatalf("POST /api/shares: %d %s; want a url under %s/s/", code, body, e.base)
	}
	if code, body, _ := do(t, c, "GET", link.URL, "", nil, nil); code != 200 || body != "shared" {
		t.Errorf("GET share link: %d %q", code, body)
	}
}

// checkWebAppSocket opens /ws as the web app does: from the page's origin.
func checkWebAppSocket(t *testing.T, e *shipped) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: e.trust.Clone()}
	ws, resp, err := d.Dial("wss"+strings.TrimPrefix(e.base, "https")+"/ws", http.Header{"Origin": {e.base}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("web app's /ws upgrade: %v (status %d)", err, status)
	}
	ws.Close()
}

// checkLimiterPerClient spends the failed-authentication credit of client 127.0.0.3,
// which forges a new X-Forwarded-For on every request; another client, 127.0.0.4, must
// still get 401 (not 429), and 127.0.0.3's valid token must still work.
func checkLimiterPerClient(t *testing.T, e *shipped) {
	t.Helper()
	attacker := clientFrom("127.0.0.3", e.trust)
	limited := false
	for i := 0; i < 200 && !limited; i++ {
		code, _, _ := do(t, attacker, "GET", e.base+"/api/list", "not-a-token", nil,
			map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i%250+1)})
		limited = code == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("200 bad tokens from one client, each with a forged X-Forwarded-For: never 429")
	}
	if code, body, _ := do(t, clientFrom("127.0.0.4", e.trust), "GET", e.base+"/api/list", "not-a-token", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("another client's bad token: %d %s, want 401 (its own credit)", code, body)
	}
	if code, body, _ := do(t, attacker, "GET", e.base+"/api/list", e.write, nil, nil); code != 200 {
		t.Errorf("the limited client's valid token: %d %s", code, body)
	}
}
