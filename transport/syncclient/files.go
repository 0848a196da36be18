package syncclient

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
)

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
