package engine

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// xfer is the transfer side of the engine: every request that changes the server or
// fetches content from it (upload, download, archive, delete, mkdir, move), each
// followed by the bookkeeping of its answer. Writing downloaded content into the local
// folder is the disk side's job (disk.place); xfer only fetches it.
type xfer struct{ *Engine }

// isRefusal reports whether a server error means "this name or content is not
// accepted" (reported once, not retried in a loop) rather than a transient failure.
func isRefusal(err error) bool {
	switch protocol.CodeOf(err) {
	case protocol.CodeInvalidPath, protocol.CodeConflict, protocol.CodeTooLarge,
		protocol.CodeQuotaExceeded, protocol.CodeForbidden, protocol.CodeUnsupportedMedia,
		protocol.CodeInsufficientStorage:
		return true
	}
	return false
}

func (e xfer) deleteRemote(ctx context.Context, a *action, out *outcome) error {
	o := DeleteOptions{ClientID: e.ClientID()}
	if a.r.IsDirectory {
		o.Recursive = a.recursive
		if a.recursive {
			e.mu.Lock()
			o.IfSeq = e.seq
			e.mu.Unlock()
		}
	} else {
		o.IfMatch = a.r.Hash
	}
	seq, err := e.remote.Delete(ctx, a.path, o)
	switch {
	case err == nil:
	case errors.Is(err, protocol.ErrNotFound) && a.recursive:
		// The server listed this directory but answers 404: it lies above a
		// path-scoped token's paths (SPEC §7.5: listed, not deletable), or it went
		// meanwhile. Its entries go one by one next time, after the changes are
		// read; nothing under it is taken as deleted before then.
		e.mu.Lock()
		e.noCollapse[a.key] = true
		e.mu.Unlock()
		out.needCatchUp()
		out.again(a.key)
		return nil
	case errors.Is(err, protocol.ErrNotFound):
		seq = 0
	case errors.Is(err, protocol.ErrPreconditionFailed):
		// Changed on the server meanwhile: read the changes and decide again.
		out.needCatchUp()
		out.again(a.key)
		return nil
	case errors.Is(err, protocol.ErrConflict):
		// A directory that is not empty on the server (something this client does
		// not sync, e.g. ignored here): read the changes; no retry loop, the next
		// full reconcile looks again.
		out.needCatchUp()
		e.log.Debug("directory not empty on the server, kept", "path", a.path)
		return nil
	default:
		return err
	}
	e.mu.Lock()
	removeSubtree(e.remoteM, a.key)
	if a.recursive {
		removeSubtree(e.base, a.key)
	} else {
		delete(e.base, a.key)
	}
	e.dirty = true
	if seq > 0 {
		e.noteOwnSeq(seq)
	}
	e.mu.Unlock()
	e.log.Info("deleted on server", "path", a.path)
	return nil
}

// moveRemote carries a local rename to the server; when the server refuses (the
// source changed, the target exists), both keys are decided again.
func (e xfer) moveRemote(ctx context.Context, a *action, out *outcome) error {
	meta, err := e.remote.Move(ctx, a.from, a.path, a.fromHash, e.ClientID())
	if err != nil {
		if isRefusal(err) || errors.Is(err, protocol.ErrPreconditionFailed) || errors.Is(err, protocol.ErrNotFound) {
			if errors.Is(err, protocol.ErrInvalidPath) {
				e.disk.refuse(a.key, a.l.Hash, a.lpath, err)
			}
			out.needCatchUp()
			out.again(a.key)
			out.again(a.fromKey)
			return nil
		}
		return err
	}
	e.mu.Lock()
	delete(e.remoteM, a.fromKey)
	delete(e.base, a.fromKey)
	e.setRemote(meta)
	e.base[a.key] = syncedBase(meta.Path, a.lpath, meta.IsDirectory, meta.Hash)
	if meta.IsDirectory {
		repathSubtree(e.remoteM, a.key, a.from, meta.Path, func(m *protocol.Metadata) *string { return &m.Path })
		repathSubtree(e.base, a.key, a.from, meta.Path, func(b *baseEntry) *string { return &b.Path })
	}
	e.ensureParents(meta.Path, meta.Seq)
	e.noteOwnSeq(meta.Seq)
	e.dirty = true
	e.mu.Unlock()
	e.log.Info("moved on server", "from", a.from, "to", meta.Path)
	return nil
}

func (e xfer) mkdirRemote(ctx context.Context, a *action, out *outcome) error {
	meta, created, err := e.remote.Mkdir(ctx, a.path, e.ClientID())
	if err != nil {
		if (isRefusal(err) && !errors.Is(err, protocol.ErrConflict)) || errors.Is(err, protocol.ErrNotFound) {
			// 404: outside a path-scoped token's paths (SPEC §7.5).
			e.disk.refuse(a.key, "dir", a.lpath, err)
			return nil
		}
		if errors.Is(err, protocol.ErrConflict) {
			// Something else holds the name on the server: the changes feed tells
			// what; no retry loop.
			out.needCatchUp()
			return nil
		}
		return err
	}
	e.mu.Lock()
	e.setRemote(meta)
	e.base[a.key] = syncedBase(meta.Path, a.lpath, true, "")
	e.ensureParents(meta.Path, meta.Seq)
	if created {
		e.noteOwnSeq(meta.Seq)
	}
	e.dirty = true
	e.mu.Unlock()
	if created {
		e.log.Info("created directory on server", "path", meta.Path)
	}
	return nil
}

// conflictFirst reports whether a's 409 is the first for its server path. A parent
// renamed in case on the server since this client last heard (docs → Docs) makes a
// PUT under the old spelling 409 as well: not a refusal of the name or content, but
// a path to compute again once the changes are read. So the first 409 of a key at a
// path reads the changes and tries again (under the server's spelling by then); the
// same path refused again is a refusal, never retried in a loop.
func (e xfer) conflictFirst(a *action) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conflicted[a.key] == a.path {
		return false
	}
	if e.conflicted == nil {
		e.conflicted = map[string]string{}
	}
	e.conflicted[a.key] = a.path
	return true
}

func (e xfer) upload(ctx context.Context, a *action, out *outcome, pr *progress) error {
	e.mu.Lock()
	cached, _ := e.local[a.key]
	e.mu.Unlock()
	cur, err := e.disk.statUpload(a.lpath, &cached)
	if errors.Is(err, errOther) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur == nil || cur.Dir {
		out.again(a.key)
		return nil
	}
	f, err := e.root.Open(a.lpath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			out.again(a.key)
			return nil
		}
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if now := observe(a.lpath, fi); !now.sameStat(*cur) {
		out.again(a.key) // changed while we looked: next round
		return nil
	}
	o := UploadOptions{SHA256: cur.Hash, Modified: fi.ModTime(), ClientID: e.ClientID()}
	if a.rOK && !a.r.IsDirectory {
		o.IfMatch = a.r.Hash
	} else {
		o.IfNoneMatch = true
	}
	at := time.Now().UnixNano()
	meta, err := e.send(ctx, a, f, cur.Size, o, pr)
	if err != nil {
		return e.uploadFailed(a, cur, f, out, err)
	}
	if cur.Hash == "" {
		// Hashed by the upload (streamed delta or whole), and checked by the server.
		cur.Hash, cur.At = meta.Hash, at
	}
	if fi, err := e.root.Lstat(a.lpath); err != nil || !observe(a.lpath, fi).sameStat(*cur) {
		out.again(a.key) // changed during the upload: its stat is not recorded anew
	}
	e.mu.Lock()
	e.setRemote(meta)
	b, renameNext := e.fileBase(a.key, meta.Path, cur.Path, meta.Hash)
	e.base[a.key] = b
	if renameNext {
		out.again(a.key)
	}
	e.local[a.key] = *cur
	delete(e.conflicted, a.key)
	e.ensureParents(meta.Path, meta.Seq)
	e.noteOwnSeq(meta.Seq)
	e.dirty = true
	e.mu.Unlock()
	e.keepChunks(meta.Hash)
	e.log.Info("uploaded", "path", meta.Path, "size", meta.Size)
	if a.key == IgnoreFileName {
		out.again("") // ignore rules may have changed
	}
	return nil
}

// uploadFailed handles the error of a's upload of f (observed as cur): nil when it
// is dealt with (again next round, or a refusal reported).
func (e xfer) uploadFailed(a *action, cur *localEntry, f io.ReaderAt, out *outcome, err error) error {
	switch {
	case errors.Is(err, protocol.ErrPreconditionFailed):
		out.needCatchUp()
		out.again(a.key)
		return nil
	case protocol.CodeOf(err) == protocol.CodeDigestMismatch:
		out.again(a.key) // the file changed during the upload
		return nil
	case errors.Is(err, protocol.ErrConflict) && e.conflictFirst(a):
		out.needCatchUp()
		out.again(a.key)
		return nil
	case isRefusal(err) || errors.Is(err, protocol.ErrNotFound):
		// A PUT answers 404 only for a path outside a path-scoped token's paths
		// (SPEC §7.5: nothing exists there for it): a refusal of the name.
		h := cur.Hash
		if h == "" { // unhashed (deferHash): the refusal is of this content
			var herr error
			if h, herr = e.hashOf(f, cur.Size); herr != nil {
				return herr
			}
		}
		e.disk.refuse(a.key, h, a.lpath, err)
		return nil
	}
	return err
}

// keepChunks keeps the chunk list of hash, the content just synced (if known), for
// the next delta of the file.
func (e *Engine) keepChunks(hash string) {
	if err := e.chunks.keep(hash); err != nil {
		e.log.Debug("chunk list not kept", "hash", hash, "err", err)
	}
}

// dropLocalChunks forgets the cached chunk list of the local content at key.
func (e *Engine) dropLocalChunks(key string) {
	e.mu.Lock()
	l := e.local[key]
	e.mu.Unlock()
	e.chunks.drop(l.Hash)
}

// send uploads the first size bytes of f to a.path: as a delta when that is worth it
// (deltaup.go), else whole.
func (e xfer) send(ctx context.Context, a *action, f io.ReaderAt, size int64, o UploadOptions, pr *progress) (protocol.Metadata, error) {
	if meta, tried, err := e.uploadDelta(ctx, a, f, size, o); tried {
		if err == nil {
			pr.add(size)
		}
		return meta, err
	}
	if o.SHA256 == "" { // unhashed (deferHash) and no delta after all
		h, err := e.hashOf(f, size)
		if err != nil {
			return protocol.Metadata{}, err
		}
		o.SHA256 = h
	}
	var body io.Reader = io.NewSectionReader(f, 0, size)
	if pr != nil {
		body = io.TeeReader(body, countWriter{pr})
	}
	meta, _, err := e.remote.Upload(ctx, a.path, body, size, o)
	return meta, err
}

// download fetches a's server content into place: as a delta when a local file can
// give most of it (deltadown.go), the whole file when that is not worth it or fails.
func (e xfer) download(ctx context.Context, a *action, out *outcome, pr *progress) error {
	if d, ok := e.wantDeltaDownload(a); ok {
		err := e.disk.downloadInto(a, out, pr, false, func(w io.Writer) (protocol.Metadata, error) {
			return e.deltaFetch(ctx, d, a, w)
		})
		if err == nil || ctx.Err() != nil || !(errors.Is(err, errDelta) || errors.Is(err, errContentMismatch)) {
			return err
		}
		// Perhaps a wrong cached list of the local file: cut again next time.
		e.dropLocalChunks(a.key)
		e.log.Debug("delta download not possible, downloading whole", "path", a.path, "err", err)
	}
	return e.disk.downloadFrom(a, out, pr, func(w io.Writer) (protocol.Metadata, error) {
		return e.remote.Download(ctx, a.path, w)
	})
}
