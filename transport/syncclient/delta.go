package syncclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
)

var _ engine.Deltaer = (*Client)(nil)

// Chunks implements engine.Deltaer: GET /api/chunks/{path}. The list is checked: a
// whole-file hash, chunk sizes within the chunker's bounds adding up to the size.
func (c *Client) Chunks(ctx context.Context, p string) (engine.ChunkList, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.pathURL("/api/chunks/", p), nil)
	if err != nil {
		return engine.ChunkList{}, err
	}
	resp, err := c.do(req)
	if err != nil {
		return engine.ChunkList{}, err
	}
	defer resp.Body.Close()
	var w protocol.ChunkList
	if err := decodeJSON(resp.Body, &w); err != nil {
		return engine.ChunkList{}, err
	}
	bad := func(why string, a ...any) (engine.ChunkList, error) {
		return engine.ChunkList{}, protocol.Errorf(protocol.CodeInternal, "bad chunk list for %s: "+why, append([]any{p}, a...)...)
	}
	if etagHash(w.Hash) == "" || w.Size < 0 {
		return bad("hash %q, size %d", w.Hash, w.Size)
	}
	list := engine.ChunkList{Hash: w.Hash, Size: w.Size, Seq: w.Seq, Chunks: make([]chunk.Chunk, len(w.Chunks))}
	var off int64
	for i, wc := range w.Chunks {
		if wc.Size <= 0 || wc.Size > chunk.MaxSize || wc.Size > w.Size-off {
			return bad("chunk %d has size %d", i, wc.Size)
		}
		list.Chunks[i] = chunk.Chunk{Offset: off, Size: wc.Size, Hash: wc.Hash}
		off += wc.Size
	}
	if off != w.Size {
		return bad("chunks cover %d of %d bytes", off, w.Size)
	}
	return list, nil
}

// DownloadRanges implements engine.Deltaer: GET /api/files/{path} with Range and
// If-Range. The answer must be 206 with exactly the ranges asked for, in order (one
// range: its Content-Range; several: multipart/byteranges, one part each); a 200
// (the content changed, If-Range failed) or anything else is an error.
func (c *Client) DownloadRanges(ctx context.Context, p, hash string, ranges []engine.ByteRange, fn func(engine.ByteRange, io.Reader) error) (protocol.Metadata, error) {
	if len(ranges) == 0 {
		return protocol.Metadata{}, protocol.Errorf(protocol.CodeBadRequest, "no ranges to fetch")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.fileURL(p), nil)
	if err != nil {
		return protocol.Metadata{}, err
	}
	spec := make([]string, len(ranges))
	for i, r := range ranges {
		spec[i] = fmt.Sprintf("%d-%d", r.Off, r.Off+r.Len-1)
	}
	req.Header.Set("Range", "bytes="+strings.Join(spec, ","))
	req.Header.Set("If-Range", `"`+hash+`"`)
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
	if resp.StatusCode != http.StatusPartialContent {
		return m, protocol.Errorf(protocol.CodePreconditionFailed, "GET %s: ranges answered with %d (the content changed)", redact(req.URL), resp.StatusCode)
	}
	if m.Hash != hash {
		return m, protocol.Errorf(protocol.CodePreconditionFailed, "GET %s: ranges of another content", redact(req.URL))
	}
	if err := readRanges(resp, ranges, fn); err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return m, err
		}
		return m, &protocol.Error{Code: protocol.CodeUnavailable, Message: "ranged download failed: GET " + redact(req.URL), Err: err}
	}
	return m, nil
}

// readRanges passes the parts of a 206 answer to fn, checking each against the range
// asked for.
func readRanges(resp *http.Response, ranges []engine.ByteRange, fn func(engine.ByteRange, io.Reader) error) error {
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "multipart/byteranges" {
		if len(ranges) != 1 {
			return protocol.Errorf(protocol.CodeInternal, "%d ranges answered as one", len(ranges))
		}
		if resp.ContentLength >= 0 && resp.ContentLength != ranges[0].Len {
			return protocol.Errorf(protocol.CodeInternal, "range of %d bytes answered with %d", ranges[0].Len, resp.ContentLength)
		}
		return readPart(resp.Header.Get("Content-Range"), resp.Body, ranges[0], fn)
	}
	if params["boundary"] == "" {
		return protocol.Errorf(protocol.CodeInternal, "multipart/byteranges without a boundary")
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for _, r := range ranges {
		part, err := mr.NextPart()
		if err != nil {
			return err
		}
		if err := readPart(part.Header.Get("Content-Range"), part, r, fn); err != nil {
			return err
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		return protocol.Errorf(protocol.CodeInternal, "more parts than ranges asked for")
	}
	return nil
}

// readPart checks that a part's Content-Range is r and passes exactly its bytes to fn;
// a part longer than r is an error.
func readPart(contentRange string, body io.Reader, r engine.ByteRange, fn func(engine.ByteRange, io.Reader) error) error {
	want := fmt.Sprintf("bytes %d-%d/", r.Off, r.Off+r.Len-1)
	if !strings.HasPrefix(contentRange, want) {
		return protocol.Errorf(protocol.CodeInternal, "got Content-Range %q, asked for %s", contentRange, want)
	}
	if err := fn(r, io.LimitReader(body, r.Len)); err != nil {
		return err
	}
	var one [1]byte
	if n, _ := io.ReadFull(body, one[:]); n > 0 {
		return protocol.Errorf(protocol.CodeInternal, "range %s longer than asked for", want)
	}
	return nil
}

// UploadDelta implements engine.Deltaer: POST /api/delta/{path} with body, the ops
// against the content o.IfMatch names, streamed (chunked) as it is produced. Without
// o.SHA256 the body must carry the hash in an 'H' op.
func (c *Client) UploadDelta(ctx context.Context, p string, body io.ReadCloser, o engine.UploadOptions) (protocol.Metadata, bool, error) {
	if o.IfMatch == "" {
		body.Close()
		return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeBadRequest, "a delta needs the base's hash")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.pathURL("/api/delta/", p), body)
	if err != nil {
		body.Close()
		return protocol.Metadata{}, false, err
	}
	req.Header.Set("Content-Type", delta.ContentType)
	if o.SHA256 != "" { // else the body ends with an 'H' op (sync/delta)
		req.Header.Set("X-Content-SHA256", o.SHA256)
	}
	req.Header.Set("If-Match", `"`+o.IfMatch+`"`)
	if !o.Modified.IsZero() {
		req.Header.Set("X-Modified", o.Modified.UTC().Format(time.RFC3339Nano))
	}
	if o.ClientID != "" {
		req.Header.Set("X-Sync-Client-Id", o.ClientID)
	}
	// A refusal (412, quota, …) comes before any of the body is sent.
	req.Header.Set("Expect", "100-continue")
	resp, err := c.do(req)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	return readCreated(resp)
}
