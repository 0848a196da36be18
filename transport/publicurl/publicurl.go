// Package publicurl gives the root URL that the links and credentials syncd hands out
// name (SPEC §7.2's PUBLIC_URL: share links, device credentials). It never takes the
// URL from what a client sent: a request's Host header and its X-Forwarded-Proto,
// X-Forwarded-Host and similar headers are the client's to forge, and a link built
// from them (say, a share link a user then emails on) would point wherever the
// client liked.
package publicurl

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Of returns the URL, without a trailing slash, that links handed out in answer to r
// start with: configured (web.public_url, or the URL syncd derived from its listen
// address and TLS mode) when not "", else the address r's connection was accepted
// on, with https when r came over TLS. The second case is a fallback for servers
// wired without syncd's config (tests); it too ignores every header.
func Of(r *http.Request, configured string) string {
	if configured != "" {
		return strings.TrimRight(configured, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := "localhost"
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && a != nil {
		host = a.String() // host:port, IPv6 in brackets
	}
	return scheme + "://" + host
}

// Origin returns the browser origin of a configured public URL (web.public_url, or the
// URL syncd derived): scheme://host[:port] in lower case, without its path and
// without the scheme's default port, as a browser sends it in an Origin header; "" for
// "" or a URL that is not http(s) with a host. The web app served at that URL opens
// /ws with this Origin, which a reverse proxy does not make match the Host header it
// forwards (transport/server adds it to the hub's allowed origins).
func Origin(configured string) string {
	u, err := url.Parse(configured)
	if err != nil || u.Host == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if scheme != "http" && scheme != "https" {
		return ""
	}
	host := strings.ToLower(u.Host)
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return scheme + "://" + host
}
