package engine

import (
	"context"
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
func (e xfer) uploadDelta(ctx context.Context, a *action, f io.ReaderAt, size int64, o UploadOptions) (meta protocol.Metadata, tried bool, err error) {
	d, ok := wantDeltaUpload(e.remote, a.r, a.rOK, size)
	if !ok || o.IfMatch == "" {
		return meta, false, nil
	}
	list, err := d.Chunks(ctx, a.path)
	if err != nil {
		if ctx.Err() != nil {
			return meta, true, ctx.Err()
		}
		e.log.Debug("no chunk list, uploading whole", "path", a.path, "err", err)
		return meta, false, nil
	}
	if list.Hash != o.IfMatch {
		// The server moved on: the whole upload's If-Match answers 412 (before the
		// body) and the changes are read.
		return meta, false, nil
	}
	local, err := localChunks(ctx, f, size)
	if err != nil {
		if ctx.Err() != nil {
			return meta, true, ctx.Err()
		}
		return meta, false, nil
	}
	ops, literal := planUpload(list.Chunks, local)
	if !worthDelta(literal, size) {
		e.log.Debug("delta not worth it, uploading whole", "path", a.path, "literal", literal, "size", size)
		return meta, false, nil
	}
	meta, _, err = d.UploadDelta(ctx, a.path, opStream(f, ops), o)
	if err != nil && deltaFallback(err) && ctx.Err() == nil {
		e.log.Warn("delta upload refused, uploading whole", "path", a.path, "err", err)
		return meta, false, nil
	}
	if err == nil {
		e.log.Debug("uploaded as delta", "path", a.path, "size", size, "literal", literal, "ops", len(ops))
	}
	return meta, true, err
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
