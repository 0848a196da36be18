//go:build !windows

package proxytest

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants"
)

// httpWrap is the http{} block nginx runs a site file in: logs and temp files in the
// test's directory (nginx runs as an ordinary user), {{SITE}} the site's text.
const httpWrap = `worker_processes 1;
error_log {{DIR}}/error.log info;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path {{DIR}}/body;
	proxy_temp_path {{DIR}}/proxy;
	fastcgi_temp_path {{DIR}}/fastcgi;
	uwsgi_temp_path {{DIR}}/uwsgi;
	scgi_temp_path {{DIR}}/scgi;
{{SITE}}
}
`

// startSyncd starts syncd with trusted_proxies 127.0.0.1 and web.public_url
// publicURL, log level info (the request log), plus extra top-level config keys.
// nginx reaches syncd from 127.0.0.1; a test client dialling nginx from another
// loopback address (clientFrom("127.0.0.3")) is then a client address that only
// X-Forwarded-For tells syncd.
func startSyncd(t *testing.T, publicURL string, extra map[string]any) (*syncdtest.Server, *syncdtest.Buffer) {
	t.Helper()
	logs := &syncdtest.Buffer{}
	cfg := map[string]any{
		"trusted_proxies": []string{"127.0.0.1/32"},
		"web":             map[string]any{"public_url": publicURL},
		"log":             map[string]any{"level": "info"},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	s := syncdtest.Start(t, syncdtest.Options{Config: cfg, Logs: logs})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("syncd logs:\n%s", logs.Tail(60))
		}
	})
	s.Tenant(t, "acme", tenants.Options{})
	return s, logs
}

// freePort returns a loopback address free at the time of the call.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNginx runs nginx in the foreground with site (the text of a server block and
// what goes beside it in http{}) and returns once listen accepts connections.
func startNginx(t *testing.T, site, listen string) {
	t.Helper()
	dir := t.TempDir()
	conf := strings.NewReplacer("{{DIR}}", dir, "{{SITE}}", site).Replace(httpWrap)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	servicetest.RunNginx(t, dir, []string{"-p", dir, "-c", "nginx.conf", "-g", "daemon off; pid " + filepath.Join(dir, "nginx.pid") + ";"}, listen)
}

// clientFrom returns an HTTP client whose connections leave from the loopback address
// local (e.g. "127.0.0.3"), trusting roots for TLS, never following redirects.
func clientFrom(local string, roots *tls.Config) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: roots.Clone(), ForceAttemptHTTP2: true}
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends one request and returns its status and body.
func do(t *testing.T, c *http.Client, method, url, token string, body io.Reader, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %.120s: %.300v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
