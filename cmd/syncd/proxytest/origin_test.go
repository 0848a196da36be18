//go:build !windows

package proxytest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// minimalSite is nginx with only the WebSocket and upload directives (all that
// docs/DEPLOY.md §4 listed before session 25): nginx then sends syncd its own Host
// (the proxy_pass address), as load balancers that rewrite Host do.
const minimalSite = `server {
	listen {{LISTEN}};
	client_max_body_size 4g;
	location / {
		proxy_pass http://{{SYNCD}};
		proxy_http_version 1.1;
		proxy_set_header Upgrade $http_upgrade;
		proxy_set_header Connection "upgrade";
		proxy_read_timeout 120s;
		proxy_request_buffering off;
	}
}`

// TestWebAppLiveBehindHostRewritingProxy: the web app opened at web.public_url (the
// proxy) opens /ws with that Origin; syncd sees the Host the proxy chose. The upgrade
// is the app's own same-origin one and must be accepted (it was refused 403: the
// Origin was compared with the Host header only), while another origin stays refused.
func TestWebAppLiveBehindHostRewritingProxy(t *testing.T) {
	listen := freePort(t)
	public := "http://" + listen
	srv, _ := startSyncd(t, public, nil)
	site := strings.NewReplacer("{{LISTEN}}", listen, "{{SYNCD}}", srv.Addr()).Replace(minimalSite)
	startNginx(t, site, listen)
	tok := srv.Token(t, "acme", "alice", "write")
	for _, c := range []struct {
		origin string
		want   int
	}{
		{public, http.StatusSwitchingProtocols},
		{strings.ToUpper(public) + "/", http.StatusSwitchingProtocols},
		{"http://evil.example", http.StatusForbidden},
		{"null", http.StatusForbidden},
	} {
		hdr := http.Header{"Origin": {c.origin}, "Authorization": {"Bearer " + tok}}
		ws, resp, err := websocket.DefaultDialer.Dial("ws://"+listen+"/ws", hdr)
		if ws != nil {
			ws.Close()
		}
		if resp == nil {
			t.Fatalf("Origin %s: no answer: %v", c.origin, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Origin %s: status %d, want %d (%v)", c.origin, resp.StatusCode, c.want, err)
		}
	}
}
