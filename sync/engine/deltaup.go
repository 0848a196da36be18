package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"io"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/protocol"
)

// wantDeltaUpload reports whether an upload of size bytes over the server's content
// base is worth trying as a delta: the remote can take one, the file is large enough,
// the server holds a file of known hash (the If-Match base both sides know), and that
// base is large enough to cover at least the share of the file a delta may not send.
func wantDeltaUpload(r Remote, base protocol.Metadata, baseOK bool, size int64) (Deltaer, bool) {
	d, ok := r.(Deltaer)
	if !ok || !baseOK || base.IsDirectory || base.Hash == "" || size < chunk.MinDeltaSize {
		return nil, false
	}
	return d, float64(base.Size) >= (1-maxLiteralShare)*float64(size)
}

// uploadDelta tries to send the first size bytes of f (hash o.SHA256; "" when the
// scan left it unhashed: deferHash) to a.path as a delta against the server's content
// o.IfMatch. tried false means the delta was not worth it or failed in a way a whole
// upload may not (the server cannot take deltas, its base vanished, the answer was
// refused as malformed): the caller then uploads the whole file. With tried true,
// meta and err are the upload's answer, handled exactly like a whole upload's; meta's
// hash is the content's, verified by the server.
//
// The base's chunk list comes from the chunk cache when this client synced that
// content (no GET /api/chunks). When the file's own list is known (the scan cut it),
// the ops are planned before the request; otherwise the file is read once while the
// request streams (streamUpload). A delta built on a cached list that fails is
// repeated whole, the list dropped.
func (e xfer) uploadDelta(ctx context.Context, a *action, f io.ReaderAt, size int64, o UploadOptions) (meta protocol.Metadata, tried bool, err error) {
	d, ok := wantDeltaUpload(e.remote, a.r, a.rOK, size)
	if !ok || o.IfMatch == "" {
		return meta, false, nil
	}
	base, cached, err := e.baseChunks(ctx, d, a, o.IfMatch)
	if err != nil || base.l == nil {
		return meta, err != nil, err
	}
	local, known := e.chunks.get(o.SHA256, size)
	if !known {
		return e.streamDelta(ctx, d, a, f, size, base, cached, o)
	}
	ops, literal := planUpload(base.l, local)
	if !worthDelta(literal, size) {
		e.log.Debug("delta not worth it, uploading whole", "path", a.path, "literal", literal, "size", size)
		return meta, false, nil
	}
	meta, _, err = d.UploadDelta(ctx, a.path, opStream(f, ops), o)
	if err != nil && ctx.Err() == nil {
		if !e.deltaFailed(a, cached, o, err) {
			return meta, false, nil
		}
	}
	if err == nil {
		e.log.Debug("uploaded as delta", "path", a.path, "size", size, "literal", literal, "ops", len(ops), "cached base", cached)
	}
	return meta, true, err
}

// streamDelta is uploadDelta reading f while the request streams.
func (e xfer) streamDelta(ctx context.Context, d Deltaer, a *action, f io.ReaderAt, size int64, base cachedList, cached bool, o UploadOptions) (meta protocol.Metadata, tried bool, err error) {
	res := streamUpload(ctx, d, a.path, f, size, base.l, base.prints, o)
	switch {
	case res.whole:
		e.log.Debug("delta not worth it, uploading whole", "path", a.path, "size", size)
		return meta, false, nil
	case res.readErr != nil:
		return meta, false, nil // unreadable or changed: the whole upload tells
	case res.changed:
		return meta, true, protocol.Errorf(protocol.CodeDigestMismatch, "the file changed since it was hashed")
	case res.same:
		// Unchanged content under a new stat: the server already holds it.
		e.chunks.put(res.hash, res.list, res.prints)
		e.log.Debug("delta upload not needed: the file holds the server's content", "path", a.path)
		return a.r, true, nil
	}
	if res.list != nil && (res.reused == 0 || (res.err == nil && res.meta.Hash == res.hash)) {
		// A list with hashes taken by Print is kept only once the server has built
		// and checked the content from it: a Print shared by other bytes made it
		// send a wrong copy, and the server refused.
		e.chunks.put(res.hash, res.list, res.prints)
	}
	if res.err == nil && res.meta.Hash != res.hash {
		// The server stored what it checked against the 'H' op: another hash is
		// a broken answer; the next pass looks again.
		return meta, true, protocol.Errorf(protocol.CodeDigestMismatch, "the server answered hash %s for content %s", res.meta.Hash, res.hash)
	}
	if res.err != nil && ctx.Err() == nil {
		if !e.deltaFailed(a, cached, o, res.err) {
			return meta, false, nil
		}
	}
	if res.err == nil {
		e.log.Debug("uploaded as streamed delta", "path", a.path, "size", size, "cached base", cached, "chunk hashes reused", res.reused)
	}
	return res.meta, true, res.err
}

// deltaFailed handles a failed delta upload and reports whether its error stands
// (false: upload whole). A wrong list shows as a content that fails the server's hash
// check, or ops it cannot apply: the lists that may be wrong are never used again.
// Over a cached base the file then goes whole; over the server's own list a hash
// mismatch means the file changed meanwhile (decided again, as a PUT's).
func (e xfer) deltaFailed(a *action, cached bool, o UploadOptions, err error) bool {
	digest := protocol.CodeOf(err) == protocol.CodeDigestMismatch
	if digest {
		e.chunks.drop(o.SHA256)
	}
	if cached && (digest || deltaFallback(err)) {
		e.chunks.drop(o.IfMatch)
		e.log.Warn("delta upload over a cached chunk list refused, uploading whole", "path", a.path, "err", err)
		return false
	}
	if deltaFallback(err) {
		e.log.Warn("delta upload refused, uploading whole", "path", a.path, "err", err)
		return false
	}
	return true
}

// baseChunks returns the chunk list of the server's content hash at a.path: the
// cached one (cached true; with its Prints when this client cut it) or the server's.
// A nil list and nil error mean no delta (no list; the server moved on, and the
// whole upload's If-Match answers 412).
func (e xfer) baseChunks(ctx context.Context, d Deltaer, a *action, hash string) (l cachedList, cached bool, err error) {
	if l, ok := e.chunks.entry(hash, a.r.Size); ok {
		return l, true, nil
	}
	list, err := d.Chunks(ctx, a.path)
	if err != nil {
		if ctx.Err() != nil {
			return l, false, ctx.Err()
		}
		e.log.Debug("no chunk list, uploading whole", "path", a.path, "err", err)
		return l, false, nil
	}
	if list.Hash != hash {
		return l, false, nil
	}
	return cachedList{l: list.Chunks}, false, nil
}

// hashOf returns the SHA-256 (hex) of the first size bytes of f, cutting it into
// chunks in the same read when it is large enough for a delta (the list is kept for
// the next delta of this content).
func (e xfer) hashOf(f io.ReaderAt, size int64) (string, error) {
	s := chunk.NewSum()
	_, err := s.ReadFrom(io.NewSectionReader(f, 0, size))
	sum, l := s.Finish()
	if err != nil {
		return "", err
	}
	h := hex.EncodeToString(sum[:])
	if size >= chunk.MinDeltaSize {
		e.chunks.put(h, l, s.Prints())
	}
	return h, nil
}

// statUpload is statLocal for an upload: the cached hash of a file large enough for
// a delta is reused even when it was taken too soon after the mtime to be trusted by
// a scan (racy), since the upload only declares it and the server checks it (a
// mismatch is decided again): re-reading the file for it would double the upload's
// reads. A file the scan left unhashed (deferHash) stays unhashed on the same stat:
// its upload hashes it.
func (e disk) statUpload(p string, cached *localEntry) (*localEntry, error) {
	if e.chunks != nil && cached != nil && !cached.Dir && cached.Size >= chunk.MinDeltaSize {
		if fi, err := e.root.Lstat(p); err == nil && fi.Mode().IsRegular() {
			if le := observe(p, fi); le.Path == cached.Path && le.sameStat(*cached) {
				le.Hash, le.At = cached.Hash, cached.At
				return &le, nil
			}
		}
	}
	return e.statLocal(p, cached)
}

// deltaFallback reports whether a failed delta upload should be repeated as a whole
// upload: the errors a whole upload answers the same way (preconditions, refusals,
// the network, authentication) are not repeated.
func deltaFallback(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch protocol.CodeOf(err) {
	case protocol.CodePreconditionFailed, protocol.CodeDigestMismatch, protocol.CodeUnavailable,
		protocol.CodeUnauthenticated, protocol.CodeRateLimited:
		return false
	case protocol.CodeUnsupportedMedia:
		return true // a server without deltas may say so
	}
	return !isRefusal(err)
}
