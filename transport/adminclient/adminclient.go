// Package adminclient is a client of syncd's admin API (transport/admin): one typed
// method per route that syncctl's remote mode uses, authenticated with an ops token.
// An error answer becomes a *protocol.Error carrying the server's code and message;
// a failure to reach the server or to read its answer is a plain error.
package adminclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Timeout bounds one call of a client made by NewHTTPClient.
const Timeout = 60 * time.Second

// MaxAnswer bounds an answer the client reads.
const MaxAnswer = 64 << 20

// Client calls the admin API of one server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client of the admin API under base (the server root, such as
// https://sync.example.com; /admin is appended) that sends token as its bearer token.
// hc nil means NewHTTPClient(nil).
func New(base, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("adminclient: want an http(s) server root, got %q", base)
	}
	if token == "" {
		return nil, errors.New("adminclient: empty token")
	}
	if hc == nil {
		hc = NewHTTPClient(nil)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return &Client{base: u, token: token, http: hc}, nil
}

// NewHTTPClient returns the HTTP client the admin client should use: no proxy from the
// environment, TLS 1.2 or later verified against roots (nil: the system's), a Timeout
// per call, and redirects never followed (one could carry the ops token elsewhere).
func NewHTTPClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &http.Client{
		Transport:     tr,
		Timeout:       Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Base returns the server root the client calls.
func (c *Client) Base() *url.URL { u := *c.base; return &u }

// Close closes idle connections.
func (c *Client) Close() error { c.http.CloseIdleConnections(); return nil }

// call sends a request to the admin API and decodes the JSON answer into out.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.callAt(ctx, method, "/admin"+path, query, in, out)
}

// callAt is call for a path from the server root (the team routes live under /api).
func (c *Client) callAt(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL carries nothing secret, but keep the line short
		}
		return fmt.Errorf("%s %s: %w", method, c.base.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		return answerError(resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("server answer is not the expected JSON: %w", err)
		}
	}
	return nil
}

// answerError turns an error answer into a *protocol.Error with the server's code,
// or a plain error naming the status when the body is not the API's error JSON.
func answerError(status string, data []byte) error {
	var eb struct {
		Error struct {
			Code    protocol.Code `json:"code"`
			Message string        `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		return &protocol.Error{Code: eb.Error.Code, Message: eb.Error.Message}
	}
	return fmt.Errorf("server answered %s", status)
}
