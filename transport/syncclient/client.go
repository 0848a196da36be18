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
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
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
		return nil, nil, fmt.Errorf("invalid server URL %q", raw)
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
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
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
			Proxy:            http.ProxyFromEnvironment,
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
func (c *Client) fileURL(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := *c.base
	u.Path = c.base.Path + "/api/files/" + p
	u.RawPath = c.base.EscapedPath() + "/api/files/" + strings.Join(segs, "/")
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

// DecodeError turns a non-2xx response into a *protocol.Error, using the body's
// {"error":{"code","message"}} when it has one and the status otherwise. The message
// names the request's URL (without its query) when resp.Request is set.
//
// 502, 503 and 504 (a proxy that cannot reach the server, or a server not ready) also
// count as the server unreachable: errors.Is(err, engine.ErrUnreachable) holds.
func DecodeError(resp *http.Response) *protocol.Error {
	e := decodeError(resp)
	if resp.Request != nil && resp.Request.URL != nil {
		e.Message = fmt.Sprintf("%s %s: %s", resp.Request.Method, redact(resp.Request.URL), e.Message)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if e.Err == nil {
			e.Err = &unreachable{err: fmt.Errorf("HTTP %d", resp.StatusCode)}
		}
	}
	return e
}

func decodeError(resp *http.Response) *protocol.Error {
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return protocol.Errorf(protocol.CodeBadRequest, "the server answered with a redirect (%d), which is not followed", resp.StatusCode)
	}
	var body struct {
		Error struct {
			Code    protocol.Code `json:"code"`
			Message string        `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		return &protocol.Error{Code: body.Error.Code, Message: body.Error.Message}
	}
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(b, []byte("HTTP request to an HTTPS server")) {
		// Go's TLS server answers a plain HTTP request so.
		return &protocol.Error{Code: protocol.CodeBadRequest, Message: speaksTLS}
	}
	return &protocol.Error{Code: codeForStatus(resp.StatusCode), Message: http.StatusText(resp.StatusCode)}
}

func codeForStatus(s int) protocol.Code {
	switch s {
	case 400:
		return protocol.CodeBadRequest
	case 401:
		return protocol.CodeUnauthenticated
	case 403:
		return protocol.CodeForbidden
	case 404:
		return protocol.CodeNotFound
	case 409:
		return protocol.CodeConflict
	case 410:
		return protocol.CodeResyncRequired
	case 412:
		return protocol.CodePreconditionFailed
	case 413:
		return protocol.CodeTooLarge
	case 415:
		return protocol.CodeUnsupportedMedia
	case 422:
		return protocol.CodeDigestMismatch
	case 429:
		return protocol.CodeRateLimited
	case 502, 503, 504:
		return protocol.CodeUnavailable
	case 507:
		return protocol.CodeInsufficientStorage
	}
	return protocol.CodeInternal
}

// decodeJSON reads a JSON answer of at most limit bytes into v.
func decodeJSON(r io.Reader, v any) error {
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(v); err != nil {
		return protocol.Errorf(protocol.CodeInternal, "bad answer from the server: %v", err)
	}
	return nil
}

// List implements engine.Remote: GET /api/list?recursive=true, decoded as a stream.
func (c *Client) List(ctx context.Context, head func(string, int64) error, each func(protocol.Metadata) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL("/api/list", url.Values{"recursive": {"true"}}), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return DecodeList(resp.Body, head, each)
}

// DecodeList decodes a /api/list body entry by entry: head gets the epoch and seq
// before the first entry (entries that arrive before them are held back).
func DecodeList(r io.Reader, head func(string, int64) error, each func(protocol.Metadata) error) error {
	dec := json.NewDecoder(r)
	bad := func(what string) error {
		return protocol.Errorf(protocol.CodeInternal, "bad list answer from the server: %s", what)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return bad("not an object")
	}
	var epoch string
	var seq int64
	haveEpoch, haveSeq, headDone := false, false, false
	var held []protocol.Metadata
	callHead := func() error {
		if headDone {
			return nil
		}
		headDone = true
		return head(epoch, seq)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err.Error())
		}
		key, _ := t.(string)
		switch key {
		case "epoch":
			if err := dec.Decode(&epoch); err != nil {
				return bad("epoch")
			}
			haveEpoch = true
		case "seq":
			if err := dec.Decode(&seq); err != nil {
				return bad("seq")
			}
			haveSeq = true
		case "entries":
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				if t == nil && err == nil {
					continue // null
				}
				return bad("entries")
			}
			for dec.More() {
				var m protocol.Metadata
				if err := dec.Decode(&m); err != nil {
					return bad("entry")
				}
				if haveEpoch && haveSeq {
					if err := callHead(); err != nil {
						return err
					}
					if err := each(m); err != nil {
						return err
					}
				} else {
					held = append(held, m)
				}
			}
			if _, err := dec.Token(); err != nil {
				return bad("entries end")
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return bad("field")
			}
		}
	}
	if !haveSeq {
		return bad("no seq")
	}
	if err := callHead(); err != nil {
		return err
	}
	for _, m := range held {
		if err := each(m); err != nil {
			return err
		}
	}
	return nil
}

// copyBufs holds the buffers downloads copy through (io.Copy would allocate 32 KiB per
// file: thousands of small files made that most of the client's garbage).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Download implements engine.Remote.
func (c *Client) Download(ctx context.Context, p string, w io.Writer) (protocol.Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.fileURL(p), nil)
	if err != nil {
		return protocol.Metadata{}, err
	}
	resp, err := c.do(req)
	if err != nil {
		return protocol.Metadata{}, err
	}
	defer resp.Body.Close()
	m := protocol.Metadata{Path: p, Hash: etagHash(resp.Header.Get("ETag"))}
	m.Seq, _ = strconv.ParseInt(resp.Header.Get("X-Sync-Seq"), 10, 64)
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		m.Modified = t.UTC()
	}
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(w, resp.Body, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return m, &protocol.Error{Code: protocol.CodeUnavailable, Message: "download interrupted: GET " + redact(req.URL), Err: err}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return m, protocol.Errorf(protocol.CodeUnavailable, "download cut short: GET %s", redact(req.URL))
	}
	m.Size = n
	return m, nil
}

// etagHash returns the hash inside an ETag ("" if it is not a hash).
func etagHash(tag string) string {
	tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
	tag = strings.Trim(tag, `"`)
	if len(tag) != 64 {
		return ""
	}
	for _, r := range tag {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return ""
		}
	}
	return tag
}

// Upload implements engine.Remote.
func (c *Client) Upload(ctx context.Context, p string, body io.Reader, size int64, o engine.UploadOptions) (protocol.Metadata, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.fileURL(p), body)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Content-SHA256", o.SHA256)
	if o.IfMatch != "" {
		req.Header.Set("If-Match", `"`+o.IfMatch+`"`)
	}
	if o.IfNoneMatch {
		req.Header.Set("If-None-Match", "*")
	}
	if !o.Modified.IsZero() {
		req.Header.Set("X-Modified", o.Modified.UTC().Format(time.RFC3339Nano))
	}
	if o.ClientID != "" {
		req.Header.Set("X-Sync-Client-Id", o.ClientID)
	}
	if size > 1<<20 {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.do(req)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	return readCreated(resp)
}

// readCreated reads and closes the metadata answer of a request that may create a
// node, reporting whether the server answered 201 Created.
func readCreated(resp *http.Response) (protocol.Metadata, bool, error) {
	defer resp.Body.Close()
	var m protocol.Metadata
	if err := decodeJSON(resp.Body, &m); err != nil {
		return m, false, err
	}
	return m, resp.StatusCode == http.StatusCreated, nil
}

// Delete implements engine.Remote.
func (c *Client) Delete(ctx context.Context, p string, o engine.DeleteOptions) (int64, error) {
	u := c.fileURL(p)
	q := url.Values{}
	if o.Recursive {
		q.Set("recursive", "true")
	}
	if o.IfSeq > 0 {
		q.Set("if_seq", strconv.FormatInt(o.IfSeq, 10))
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return 0, err
	}
	if o.IfMatch != "" {
		req.Header.Set("If-Match", `"`+o.IfMatch+`"`)
	}
	if o.ClientID != "" {
		req.Header.Set("X-Sync-Client-Id", o.ClientID)
	}
	resp, err := c.do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Seq int64 `json:"seq"`
	}
	if err := decodeJSON(resp.Body, &body); err != nil {
		return 0, err
	}
	return body.Seq, nil
}

func (c *Client) postJSON(ctx context.Context, route, clientID string, in any) (*http.Response, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apiURL(route, nil), strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if clientID != "" {
		req.Header.Set("X-Sync-Client-Id", clientID)
	}
	return c.do(req)
}

// Mkdir implements engine.Remote.
func (c *Client) Mkdir(ctx context.Context, p, clientID string) (protocol.Metadata, bool, error) {
	resp, err := c.postJSON(ctx, "/api/mkdir", clientID, map[string]string{"path": p})
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	return readCreated(resp)
}

// Move implements engine.Remote.
func (c *Client) Move(ctx context.Context, from, to, ifMatch, clientID string) (protocol.Metadata, error) {
	in := map[string]string{"from": from, "to": to}
	if ifMatch != "" {
		in["if_match"] = ifMatch
	}
	resp, err := c.postJSON(ctx, "/api/move", clientID, in)
	if err != nil {
		return protocol.Metadata{}, err
	}
	defer resp.Body.Close()
	var m protocol.Metadata
	err = decodeJSON(resp.Body, &m)
	return m, err
}

// Changes implements engine.Remote.
func (c *Client) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	q := url.Values{"since": {strconv.FormatInt(since, 10)}}
	if epoch != "" {
		q.Set("epoch", epoch)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL("/api/changes", q), nil)
	if err != nil {
		return protocol.ChangesPage{}, err
	}
	resp, err := c.do(req)
	if err != nil {
		return protocol.ChangesPage{}, err
	}
	defer resp.Body.Close()
	var page protocol.ChangesPage
	err = decodeJSON(resp.Body, &page)
	return page, err
}
