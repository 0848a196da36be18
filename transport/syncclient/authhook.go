package syncclient

import (
	"net/http"
	"net/url"
)

// OnAuthFailure sets f to be called (in its own goroutine) whenever the server refuses
// the token: an HTTP 401, a refused WebSocket upgrade with 401, or a socket closed
// with 4001/4004/4005. A device credential's token source uses it to refresh at once.
// nil removes the hook.
func (c *Client) OnAuthFailure(f func()) {
	c.mu.Lock()
	c.onAuthFail = f
	c.mu.Unlock()
}

func (c *Client) authFailed() {
	c.mu.Lock()
	f := c.onAuthFail
	c.mu.Unlock()
	if f != nil {
		go f()
	}
}

// HTTPClient is the client's HTTP client (its TLS settings, client certificate
// included), for other requests to the same server such as POST /api/token.
func (c *Client) HTTPClient() *http.Client { return c.http }

// BaseURL is the server's HTTP(S) root, without a trailing slash.
func (c *Client) BaseURL() *url.URL { u := *c.base; return &u }

// Token is the bearer token in use.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}
