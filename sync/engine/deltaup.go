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

// uploadDelta tries to send the first cur.Size bytes of f (hash o.SHA256) to a.path as
// a delta against the server's content o.IfMatch. tried false means the delta was not
// worth it or failed in a way a whole upload may not (the server cannot take deltas,
// its base vanished, the answer was refused as malformed): the caller then uploads
// the whole file. With tried true, meta and err are the upload's answer, handled
// exactly like a whole upload's.
//
// The base's chunk list comes from the chunk cache when this client synced that
// content (no GET /api/chunks), the file's own from the scan's read (no second read).
// A delta built on a cached list that fails is repeated whole, the list dropped.
func (e xfer) uploadDelta(ctx context.Context, a *action, f io.ReaderAt, size int64, o UploadOptions) (meta protocol.Metadata, tried bool, err error) {
	d, ok := wantDeltaUpload(e.remote, a.r, a.rOK, size)
	if !ok || o.IfMatch == "" {
		return meta, false, nil
	}
	base, cached, err := e.baseChunks(ctx, d, a, o.IfMatch)
	if err != nil || base == nil {
		return meta, err != nil, err
	}
	local, err := e.ownChunks(f, size, o.SHA256)
	if err != nil || local == nil {
		return meta, false, nil // unreadable or changed: the whole upload tells
	}
	ops, literal := planUpload(base, local)
	if !worthDelta(literal, size) {
		e.log.Debug("delta not worth it, uploading whole", "path", a.path, "literal", literal, "size", size)
		return meta, false, nil
	}
	meta, _, err = d.UploadDelta(ctx, a.path, opStream(f, ops), o)
	if err != nil && ctx.Err() == nil {
		// A wrong list shows as a content that fails the server's hash check, or ops
		// it cannot apply: the lists that may be wrong are never used again. Over a
		// cached base the file then goes whole; over the server's own list a hash
		// mismatch means the file changed meanwhile (decided again, as a PUT's).
		digest := protocol.CodeOf(err) == protocol.CodeDigestMismatch
		if digest {
			e.chunks.drop(o.SHA256)
		}
		if cached && (digest || deltaFallback(err)) {
			e.chunks.drop(o.IfMatch)
			e.log.Warn("delta upload over a cached chunk list refused, uploading whole", "path", a.path, "err", err)
			return meta, false, nil
		}
		if deltaFallback(err) {
			e.log.Warn("delta upload refused, uploading whole", "path", a.path, "err", err)
			return meta, false, nil
		}
	}
	if err == nil {
		e.log.Debug("uploaded as delta", "path", a.path, "size", size, "literal", literal, "ops", len(ops), "cached base", cached)
	}
	return meta, true, err
}

// baseChunks returns the chunk list of the server's content hash at a.path: the
// cached one (cached true) or the server's. A nil list and nil error mean no delta
// (no list; the server moved on, and the whole upload's If-Match answers 412).
func (e xfer) baseChunks(ctx context.Context, d Deltaer, a *action, hash string) (l []chunk.Chunk, cached bool, err error) {
	if l, ok := e.chunks.get(hash, a.r.Size); ok {
		return l, true, nil
	}
	list, err := d.Chunks(ctx, a.path)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		e.log.Debug("no chunk list, uploading whole", "path", a.path, "err", err)
		return nil, false, nil
	}
	if list.Hash != hash {
		return nil, false, nil
	}
	return list.Chunks, false, nil
}

// ownChunks returns the chunk list of the first size bytes of f, content hash: the
// one the scan made in its read, else cut now (nil if the content is no longer hash).
func (e xfer) ownChunks(f io.ReaderAt, size int64, hash string) ([]chunk.Chunk, error) {
	if l, ok := e.chunks.get(hash, size); ok {
		return l, nil
	}
	s := chunk.NewSum()
	_, err := s.ReadFrom(io.NewSectionReader(f, 0, size))
	sum, l := s.Finish()
	if err != nil || hex.EncodeToString(sum[:]) != hash {
		return nil, err
	}
	e.chunks.put(hash, l)
	return l, nil
}

// statUpload is statLocal for an upload: the cached hash of a file large enough for
// a delta is reused even when it was taken too soon after the mtime to be trusted by
// a scan (racy), since the upload only declares it and the server checks it (a
// mismatch is decided again): re-reading the file for it would double the upload's
// reads.
func (e disk) statUpload(p string, cached *localEntry) (*localEntry, error) {
	if e.chunks != nil && cached != nil && cached.Hash != "" && cached.Size >= chunk.MinDeltaSize {
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
