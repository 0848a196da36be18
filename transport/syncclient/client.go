// Package syncclient is realtime-sync-client's transport: an HTTP client for the API of
// SPEC §3 and a gorilla WebSocket client for the protocol of §4. *Client implements
// engine.Remote.
//
// Security: TLS verification is always on (a private root can be added with CAFile);
// plain http/ws is allowed only to loopback hosts; redirects are never followed (a
// redirect could carry the bearer token elsewhere); the token travels only in the
// Authorization header and in Refresh frames and is never logged. Every error the
// server answers is decoded into a *protocol.Error with its SPEC code.
package syncclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
)

var _ engine.Remote = (*Client)(nil)

// Options configure a Client. Server and Token are required.
type Options struct {
	// Server is the server root: http, https, ws or wss. Plain http/ws only to loopback.
	Server string
	// Token is the bearer token (a tenant token); SetToken replaces it later.
	Token string
	// CAFile, if set, is a PEM file whose certificates are trusted in addition to the
	// system roots.
	CAFile string
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
	// CertFile and KeyFile, if set, are the client certificate and key presented for
	// mutual TLS (reloaded when they change).
	CertFile, KeyFile string
	// Transfers is the expected number of parallel transfers (sizes the connection
	// pool; default 16).
	Transfers int
}

// Client talks to one syncd. It is safe for concurrent use.
type Client struct {
	base   *url.URL // http or https, path without trailing slash
	ws     *url.URL // ws or wss .../ws
	http   *http.Client
	dialer *websocket.Dialer
	log    *slog.Logger

	mu         sync.Mutex
	token      string
	streams    map[*stream]bool
	onAuthFail func() // OnAuthFailure
}

// IsLoopbackHost reports whether host (without port) is a loopback name or address.
func IsLoopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// ParseServer checks a --server URL and returns its HTTP and WebSocket forms.
func ParseServer(raw string) (httpURL, wsURL *url.URL, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if !strings.Contains(raw, "://") {
			return nil, nil, fmt.Errorf("invalid server URL %q: give its scheme, e.g. https://%s", raw, raw)
		}
		return nil, nil, fmt.Errorf("invalid server URL %q", raw)
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, nil, fmt.Errorf("invalid server URL %q: the port must be 1 to 65535", raw)
		}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, nil, errors.New("server URL must not carry credentials, a query or a fragment")
	}
	secure := false
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		secure = true
	case "http", "ws":
	default:
		return nil, nil, fmt.Errorf("server URL scheme must be http, https, ws or wss, not %q", u.Scheme)
	}
	if !secure && !IsLoopbackHost(u.Hostname()) {
		return nil, nil, fmt.Errorf("plain %s is allowed only to loopback hosts; use https or wss for %s", u.Scheme, u.Hostname())
	}
	path := strings.TrimSuffix(u.Path, "/")
	if strings.HasSuffix(path, "/ws") && (u.Scheme == "ws" || u.Scheme == "wss") {
		path = strings.TrimSuffix(path, "/ws") // a seed-style ws://host/ws URL
	}
	h := &url.URL{Scheme: "http", Host: u.Host, Path: path}
	w := &url.URL{Scheme: "ws", Host: u.Host, Path: path + "/ws"}
	if secure {
		h.Scheme, w.Scheme = "https", "wss"
	}
	return h, w, nil
}

// New builds a client.
func New(o Options) (*Client, error) {
	h, w, err := ParseServer(o.Server)
	if err != nil {
		return nil, err
	}
	if o.Token == "" {
		return nil, errors.New("a token is required")
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	if err := useClientCert(tlsConf, o.CertFile, o.KeyFile); err != nil {
		return nil, err
	}
	if o.Transfers <= 0 {
		o.Transfers = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// The WebSocket dialer gets its own copy offering http/1.1 only: the HTTP
	// transport (HTTP/2 on) adds "h2" to the NextProtos of the config it is given,
	// and gorilla refuses to dial with "h2" in the list (every wss dial would fail).
	wsTLS := tlsConf.Clone()
	wsTLS.NextProtos = []string{"http/1.1"}
	dial := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if h.Scheme == "http" {
		dial.Control = LoopbackOnly
	}
	proxy := proxyFor(h)
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           dial.DialContext,
		TLSClientConfig:       tlsConf,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * o.Transfers,
		MaxIdleConnsPerHost:   2 * o.Transfers,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	c := &Client{
		base: h,
		ws:   w,
		http: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		dialer: &websocket.Dialer{
			Proxy:            proxy,
			NetDialContext:   dial.DialContext,
			TLSClientConfig:  wsTLS,
			HandshakeTimeout: 15 * time.Second,
			ReadBufferSize:   32 << 10,
			WriteBufferSize:  4 << 10,
		},
		log:     o.Logger,
		token:   o.Token,
		streams: map[*stream]bool{},
	}
	return c, nil
}

// LoopbackOnly is a plain-http dialer's Control: it checks each address the dialer
// connects to, after name resolution and before the connection, and allows a loopback
// address only. ParseServer (and syncctl's --server) allow plain http to loopback
// names ("localhost", "*.localhost"), and a resolver may map such a name to another
// machine, to which the bearer token would go in clear.
func LoopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("plain http: bad address %q: %w", address, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("plain http is allowed only to loopback addresses, and the server's name resolved to %s; use https or wss", host)
	}
	return nil
}

// proxyFor returns the proxy function of a client of the server root u: the
// environment's (HTTPS_PROXY, NO_PROXY) for https, none for plain http, which goes to
// a loopback host only: a proxy would carry the token across the network in clear
// (net/http's own bypass covers "localhost" and loopback addresses, not
// "app.localhost" or "localhost.").
func proxyFor(u *url.URL) func(*http.Request) (*url.URL, error) {
	if u.Scheme == "http" {
		return nil
	}
	return http.ProxyFromEnvironment
}

// SetToken replaces the bearer token for later requests and sends it as Refresh on
// every live WebSocket.
func (c *Client) SetToken(tok string) {
	c.mu.Lock()
	c.token = tok
	live := make([]*stream, 0, len(c.streams))
	for s := range c.streams {
		live = append(live, s)
	}
	c.mu.Unlock()
	for _, s := range live {
		if err := s.write(protocol.Message{Type: protocol.TypeRefresh, Token: tok}); err != nil {
			c.log.Warn("could not send the new token on the live connection", "err", err)
		}
	}
}

func (c *Client) bearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "Bearer " + c.token
}

// fileURL is the URL of /api/files/{p}, each segment escaped once.
func (c *Client) fileURL(p string) string { return c.pathURL("/api/files/", p) }

// pathURL is the URL of route (ending in "/") followed by the path p, each segment
// escaped once.
func (c *Client) pathURL(route, p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := *c.base
	u.Path = c.base.Path + route + p
	u.RawPath = c.base.EscapedPath() + route + strings.Join(segs, "/")
	return u.String()
}

func (c *Client) apiURL(route string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + route
	u.RawPath = ""
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends a request with the token and turns a non-2xx answer into *protocol.Error.
// On success the caller must close the body.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", c.bearer())
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, netError(req.Method, req.URL, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		c.authFailed()
	}
	return nil, DecodeError(resp)
}
