//go:build !windows

package proxytest

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
)

// shippedConf is the nginx site file users install (docs/DEPLOY.md §4).
const shippedConf = "../../../docs/deploy/syncd.nginx.conf"

// shipped is syncd behind nginx running the shipped site file, with TLS and HTTP/2 at
// nginx and syncd on plain HTTP.
type shipped struct {
	srv      *syncdtest.Server
	logs     *syncdtest.Buffer
	base     string // https://127.0.0.1:PORT: nginx's TLS server, web.public_url
	plain    string // http://127.0.0.1:PORT: nginx's redirecting server
	certFile string
	trust    *tls.Config
	write    string // a write token of tenant acme
}

// startShipped starts syncd (websocket ping 1 s, pong timeout 2 s) and nginx with
// the shipped file, in which only the addresses, the certificate and the read timeout
// (3 s, still above the pong timeout, so that a test can outlive it) are replaced.
func startShipped(t *testing.T) *shipped {
	t.Helper()
	httpsAddr, httpAddr := freePort(t), freePort(t)
	e := &shipped{base: "https://" + httpsAddr, plain: "http://" + httpAddr}
	e.srv, e.logs = startSyncd(t, e.base, map[string]any{
		"websocket": map[string]any{"ping_interval": "1s", "pong_timeout": "2s"},
	})
	e.write = e.srv.Token(t, "acme", "alice", "write")
	var keyFile string
	e.certFile, keyFile, e.trust = selfSigned(t, t.TempDir())
	b, err := os.ReadFile(shippedConf)
	if err != nil {
		t.Fatal(err)
	}
	site := string(b)
	for _, r := range [][2]string{
		{"listen 443 ssl http2;", "listen " + httpsAddr + " ssl http2;"},
		{"listen 80;", "listen " + httpAddr + ";"},
		{"/etc/letsencrypt/live/sync.example.com/fullchain.pem", e.certFile},
		{"/etc/letsencrypt/live/sync.example.com/privkey.pem", keyFile},
		{"server 127.0.0.1:8080;", "server " + e.srv.Addr() + ";"},
		{"proxy_read_timeout 120s;", "proxy_read_timeout 3s;"},
	} {
		if n := strings.Count(site, r[0]); n != 1 {
			t.Fatalf("%s holds %q %d times, want once", filepath.Base(shippedConf), r[0], n)
		}
		site = strings.Replace(site, r[0], r[1], 1)
	}
	startNginx(t, site, httpsAddr)
	return e
}
