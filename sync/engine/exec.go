package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// outcome collects what a pass leaves to do later.
type outcome struct {
	mu       sync.Mutex
	retry    map[string]bool // keys to plan again
	catchUp  bool            // the server changed under us (412): read the changes feed
	errCount int
	fatal    error
}

func (o *outcome) again(k string) {
	o.mu.Lock()
	o.retry[k] = true
	o.mu.Unlock()
}

func (o *outcome) failed(err error) {
	o.mu.Lock()
	o.errCount++
	if errors.Is(err, ErrRootVanished) && o.fatal == nil {
		o.fatal = err
	}
	o.mu.Unlock()
}

// stepFailed records that action a failed with err: it counts towards the outcome,
// a.key is retried on the next pass, and the failure is logged.
func (e *Engine) stepFailed(out *outcome, a *action, err error) {
	out.failed(err)
	out.again(a.key)
	e.log.Warn("sync step failed", "op", a.op.String(), "path", a.path, "err", err)
}

// runSteps carries out acts one after the other with step, recording each failure in
// out. It returns false, leaving the rest undone, once ctx is done.
func (e *Engine) runSteps(ctx context.Context, out *outcome, acts []*action, step func(*action) error) bool {
	for _, a := range acts {
		if ctx.Err() != nil {
			return false
		}
		if err := step(a); err != nil {
			e.stepFailed(out, a, err)
		}
	}
	return true
}

// execute carries out a plan. Records first, then deletes (deepest first), then
// directory creations (shallowest first), then transfers in parallel.
func (e *Engine) execute(ctx context.Context, pl *plan, forceProgress bool) *outcome {
	out := &outcome{retry: map[string]bool{}}
	// Once ctx ends no new step starts, but the requests already sent get
	// StopGrace to finish: a change the server committed is recorded in the base
	// instead of being found again, unexplained, at the next start.
	octx, release := withGrace(ctx, StopGrace)
	defer release()
	records, moves, deletes, mkdirs, transfers := sortActs(pl.acts)
	e.mu.Lock()
	for _, a := range records {
		e.recordBase(a)
	}
	e.mu.Unlock()
	if !e.runSteps(ctx, out, moves, func(a *action) error {
		err := e.moveRemote(octx, a, out)
		if err != nil {
			out.again(a.fromKey)
		}
		return err
	}) {
		return out
	}
	if !e.runSteps(ctx, out, deletes, func(a *action) error {
		if a.op == opDeleteRemote {
			return e.deleteRemote(octx, a, out)
		}
		return e.deleteLocal(a, out)
	}) {
		return out
	}
	if !e.runSteps(ctx, out, mkdirs, func(a *action) error {
		if a.op == opMkdirRemote {
			return e.mkdirRemote(octx, a, out)
		}
		return e.mkdirLocal(a, out)
	}) {
		return out
	}
	if len(transfers) == 0 {
		return out
	}
	transfers = spreadByDir(transfers)
	pr := e.newProgress(len(transfers), pl.transferBytes, forceProgress)
	if done := e.archiveDownloads(octx, transfers, out, pr); len(done) > 0 {
		rest := make([]*action, 0, len(transfers)-len(done))
		for _, a := range transfers {
			if !done[a] {
				rest = append(rest, a)
			}
		}
		transfers = rest
	}
	sem := make(chan struct{}, e.opts.Transfers)
	var wg sync.WaitGroup
	for _, a := range transfers {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func(a *action) {
			// Count the file before wg.Done: finish (after wg.Wait) completes the bar
			// at its current count, so a late count would be lost ("39 / 39").
			defer func() { pr.fileDone(); <-sem; wg.Done() }()
			var err error
			if a.op == opUpload {
				err = e.upload(octx, a, out, pr)
			} else {
				err = e.download(octx, a, out, pr)
			}
			if err != nil && ctx.Err() == nil {
				e.stepFailed(out, a, err)
			}
		}(a)
	}
	wg.Wait()
	pr.finish()
	return out
}

// StopGrace is how long requests already sent may run on once the engine is told to
// stop.
const StopGrace = 10 * time.Second

// withGrace returns a context that ends StopGrace after ctx does (or when release is
// called), carrying ctx's values.
func withGrace(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(octx, func() { t.Stop() })
	})
	return octx, func() {
		stop()
		cancel()
	}
}

// spreadByDir reorders transfers (path order) so that consecutive ones lie in
// different directories, round-robin: parallel file creations in one directory queue
// on its lock in the kernel, spread over several they do not.
func spreadByDir(acts []*action) []*action {
	var dirs []string
	byDir := map[string][]*action{}
	for _, a := range acts {
		d := pathrule.Parent(a.path)
		if _, ok := byDir[d]; !ok {
			dirs = append(dirs, d)
		}
		byDir[d] = append(byDir[d], a)
	}
	if len(dirs) < 2 {
		return acts
	}
	out := make([]*action, 0, len(acts))
	for len(out) < len(acts) {
		for _, d := range dirs {
			if q := byDir[d]; len(q) > 0 {
				out = append(out, q[0])
				byDir[d] = q[1:]
			}
		}
	}
	return out
}

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

func (e *Engine) deleteRemote(ctx context.Context, a *action, out *outcome) error {
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
	case errors.Is(err, protocol.ErrNotFound):
		seq = 0
	case errors.Is(err, protocol.ErrPreconditionFailed):
		// Changed on the server meanwhile: read the changes and decide again.
		out.catchUp = true
		out.again(a.key)
		return nil
	case errors.Is(err, protocol.ErrConflict):
		// A directory that is not empty on the server (something this client does
		// not sync, e.g. ignored here): read the changes; no retry loop, the next
		// full reconcile looks again.
		out.catchUp = true
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
func (e *Engine) moveRemote(ctx context.Context, a *action, out *outcome) error {
	meta, err := e.remote.Move(ctx, a.from, a.path, a.fromR.Hash, e.ClientID())
	if err != nil {
		if isRefusal(err) || errors.Is(err, protocol.ErrPreconditionFailed) || errors.Is(err, protocol.ErrNotFound) {
			if errors.Is(err, protocol.ErrInvalidPath) {
				e.refuse(a.key, a.l.Hash, a.lpath, err)
			}
			out.catchUp = true
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
	e.base[a.key] = baseEntry{Path: meta.Path, Hash: meta.Hash}
	e.ensureParents(meta.Path, meta.Seq)
	e.noteOwnSeq(meta.Seq)
	e.dirty = true
	e.mu.Unlock()
	e.log.Info("moved on server", "from", a.from, "to", meta.Path)
	return nil
}

func (e *Engine) deleteLocal(a *action, out *outcome) error {
	e.mu.Lock()
	cached, _ := e.local[a.key]
	e.mu.Unlock()
	cur, err := e.statLocal(a.lpath, &cached)
	if errors.Is(err, errOther) {
		return nil
	}
	if err != nil {
		return err
	}
	forget := func() {
		e.mu.Lock()
		delete(e.local, a.key)
		delete(e.base, a.key)
		e.dirty = true
		e.mu.Unlock()
	}
	if cur == nil {
		forget()
		return nil
	}
	if cur.Dir {
		if err := e.root.Remove(a.lpath); err != nil {
			if isNotEmpty(err) {
				// Something unsynced (or ignored) is still inside: keep the directory.
				return nil
			}
			return err
		}
		forget()
		e.log.Info("deleted locally", "path", a.lpath)
		return nil
	}
	if a.b.k != kFile || cur.Hash != a.b.hash {
		// The local content was never synced: never delete it; it will be uploaded
		// (modify beats delete).
		e.mu.Lock()
		e.local[a.key] = *cur
		e.mu.Unlock()
		out.again(a.key)
		return nil
	}
	if err := e.root.Remove(a.lpath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	forget()
	e.log.Info("deleted locally", "path", a.lpath)
	return nil
}

func isNotEmpty(err error) bool {
	return fsys.IsNotEmpty(err)
}

func (e *Engine) mkdirRemote(ctx context.Context, a *action, out *outcome) error {
	meta, created, err := e.remote.Mkdir(ctx, a.path, e.ClientID())
	if err != nil {
		if isRefusal(err) && !errors.Is(err, protocol.ErrConflict) {
			e.refuse(a.key, "dir", a.lpath, err)
			return nil
		}
		if errors.Is(err, protocol.ErrConflict) {
			// Something else holds the name on the server: the changes feed tells
			// what; no retry loop.
			out.catchUp = true
			return nil
		}
		return err
	}
	e.mu.Lock()
	e.setRemote(meta)
	e.base[a.key] = baseEntry{Path: meta.Path, Dir: true}
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

func (e *Engine) mkdirLocal(a *action, out *outcome) error {
	target := a.lpath
	cur, err := e.statLocal(target, nil)
	if err != nil && !errors.Is(err, errOther) {
		return err
	}
	if errors.Is(err, errOther) {
		e.reportOnce(target, "symlink or special file in the way of a server directory, not synced", nil)
		return nil
	}
	if cur != nil && !cur.Dir {
		// A local file where the server has a directory.
		e.mu.Lock()
		b, bOK := e.base[a.key]
		e.mu.Unlock()
		if bOK && !b.Dir && b.Hash == cur.Hash {
			if err := e.root.Remove(target); err != nil {
				return err
			}
		} else if _, err := e.moveAside(a.key, target, out); err != nil {
			return err
		}
		cur = nil
	}
	if cur == nil {
		if err := e.root.MkdirAll(target, 0o755); err != nil {
			return err
		}
		e.log.Info("created directory locally", "path", target)
	}
	e.mu.Lock()
	e.local[a.key] = localEntry{Path: target, Dir: true}
	e.base[a.key] = baseEntry{Path: a.path, Dir: true}
	e.ensureParents(a.path, 0)
	e.dirty = true
	e.mu.Unlock()
	e.watchDir(target)
	return nil
}

// refuse remembers that the server refused this key's content and reports it once.
func (e *Engine) refuse(k, hash, p string, err error) {
	e.mu.Lock()
	e.refused[k] = hash
	e.mu.Unlock()
	e.reportOnce(p, "the server refused this local name or content, kept but not synced", err)
}

// moveAside renames the local version at p (file or directory) to a free conflict
// name and returns that name. The copy is then synced like any new file.
func (e *Engine) moveAside(k, p string, out *outcome) (string, error) {
	e.mu.Lock()
	id := e.clientID
	e.mu.Unlock()
	now := e.opts.Now()
	for n := 1; n < 1000; n++ {
		name := ConflictName(p, id, now, n)
		if _, err := e.root.Lstat(name); err == nil || !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		nk := name
		if cp, err := pathrule.Clean(name); err == nil {
			nk = pathrule.FoldKey(cp)
		}
		e.mu.Lock()
		_, r := e.remoteM[nk]
		_, b := e.base[nk]
		e.mu.Unlock()
		if r || b {
			continue
		}
		if err := e.root.Rename(p, name); err != nil {
			return "", fmt.Errorf("conflict copy: %w", err)
		}
		e.mu.Lock()
		moveLocal(e.local, k, p, nk, name)
		e.dirty = true
		e.mu.Unlock()
		out.again(nk)
		e.st.conflict()
		e.log.Warn("conflict: local version kept as a conflict copy", "path", p, "copy", name)
		return name, nil
	}
	return "", errors.New("conflict copy: no free name")
}

func (e *Engine) upload(ctx context.Context, a *action, out *outcome, pr *progress) error {
	e.mu.Lock()
	cached, _ := e.local[a.key]
	e.mu.Unlock()
	cur, err := e.statLocal(a.lpath, &cached)
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
	var body io.Reader = io.NewSectionReader(f, 0, cur.Size)
	if pr != nil {
		body = io.TeeReader(body, countWriter{pr})
	}
	meta, _, err := e.remote.Upload(ctx, a.path, body, cur.Size, o)
	if err != nil {
		switch {
		case errors.Is(err, protocol.ErrPreconditionFailed):
			out.catchUp = true
			out.again(a.key)
			return nil
		case protocol.CodeOf(err) == protocol.CodeDigestMismatch:
			out.again(a.key) // the file changed during the upload
			return nil
		case isRefusal(err):
			e.refuse(a.key, cur.Hash, a.lpath, err)
			return nil
		}
		return err
	}
	e.mu.Lock()
	e.setRemote(meta)
	e.base[a.key] = baseEntry{Path: meta.Path, Hash: meta.Hash}
	e.local[a.key] = *cur
	e.ensureParents(meta.Path, meta.Seq)
	e.noteOwnSeq(meta.Seq)
	e.dirty = true
	e.mu.Unlock()
	e.log.Info("uploaded", "path", meta.Path, "size", meta.Size)
	if a.key == IgnoreFileName {
		out.again("") // ignore rules may have changed
	}
	return nil
}

// tmpName returns a fresh temp file name in the directory of p.
func tmpName(p string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := tmpPrefix + hex.EncodeToString(b[:])
	if dir := pathrule.Parent(p); dir != "" {
		return dir + "/" + name
	}
	return name
}

func (e *Engine) download(ctx context.Context, a *action, out *outcome, pr *progress) error {
	return e.downloadFrom(a, out, pr, func(w io.Writer) (protocol.Metadata, error) {
		return e.remote.Download(ctx, a.path, w)
	})
}

// downloadFrom writes the content fetch produces into place at a's local path: into a
// temp file beside the target (hashed while streaming and checked against the hash
// fetch reports, mtime set), then renamed over the target only after the re-check of
// what is there (only synced content is replaced; anything else becomes a conflict
// copy; a name that appeared meanwhile is never replaced). fetch writes the content to
// w and returns its metadata (Hash, Seq, Modified); a not_found from it means the file
// is gone from the server.
func (e *Engine) downloadFrom(a *action, out *outcome, pr *progress, fetch func(w io.Writer) (protocol.Metadata, error)) error {
	target := a.lpath
	tmp := tmpName(target)
	f, err := e.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		// The parent is missing (directories are usually made before transfers).
		if dir := pathrule.Parent(target); dir != "" {
			if err := e.root.MkdirAll(dir, 0o755); err != nil {
				if fsys.IsNotDir(err) || errors.Is(err, fs.ErrExist) {
					out.again(a.key) // a file in the way of a parent: settled by its own key
					return nil
				}
				return err
			}
		}
		f, err = e.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if fsys.IsNotDir(err) {
		out.again(a.key)
		return nil
	}
	if err != nil {
		return err
	}
	keep, closed := false, false
	defer func() {
		if !closed {
			f.Close()
		}
		if !keep {
			_ = e.root.Remove(tmp)
		}
	}()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(f, h)
	if pr != nil {
		w = io.MultiWriter(f, h, countWriter{pr})
	}
	meta, err := fetch(w)
	if err != nil {
		if errors.Is(err, protocol.ErrNotFound) {
			out.catchUp = true
			out.again(a.key)
			return nil
		}
		return err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if meta.Hash != "" && meta.Hash != sum {
		return fmt.Errorf("download %s: content does not match its hash", a.path)
	}
	mtime := meta.Modified
	if a.r.Hash == sum && !a.r.Modified.IsZero() {
		mtime = a.r.Modified
	}
	if !mtime.IsZero() {
		_ = f.SetTimes(mtime, mtime)
	}
	if e.perFileSync {
		// No syncfs before the state save here (Windows): the file itself.
		if err := f.Sync(); err != nil {
			return err
		}
	}
	fi, err := f.Stat() // rename keeps inode, size and mtime
	if err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	// Re-check the local file just before replacing it: only content the client has
	// synced (the base) may be overwritten; anything else becomes a conflict copy.
	e.mu.Lock()
	cached, lOK := e.local[a.key]
	b, bOK := e.base[a.key]
	e.mu.Unlock()
	if !lOK {
		// Nothing was there when the pass looked (the common case of a new file): the
		// rename itself is the check, as it never replaces; only a name that appeared
		// since needs the look below.
		err := e.renameNoReplace(tmp, target)
		if err == nil {
			keep = true
			e.downloaded(a, out, meta, sum, observe(target, fi))
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	cur, err := e.statLocal(target, &cached)
	if errors.Is(err, errOther) {
		e.reportOnce(target, "symlink or special file in the way of a server file, not synced", nil)
		return nil
	}
	if err != nil {
		return err
	}
	if cur != nil {
		switch {
		case !cur.Dir && cur.Hash == sum:
			// Already there (same content): just record it.
			e.mu.Lock()
			e.local[a.key] = *cur
			e.base[a.key] = baseEntry{Path: a.path, Hash: sum}
			e.ensureParents(a.path, 0)
			e.dirty = true
			e.mu.Unlock()
			return nil
		case cur.Dir:
			if err := e.root.Remove(target); err != nil {
				if _, err := e.moveAside(a.key, target, out); err != nil {
					return err
				}
			}
		case !bOK || b.Dir || b.Hash != cur.Hash:
			if _, err := e.moveAside(a.key, target, out); err != nil {
				return err
			}
		}
	}
	if cur == nil {
		// Nothing was there a moment ago: rename without ever replacing, so a file
		// created in between is kept (as a conflict copy) rather than overwritten.
		err = e.renameNoReplace(tmp, target)
		if errors.Is(err, fs.ErrExist) {
			if _, err := e.moveAside(a.key, target, out); err != nil {
				return err
			}
			err = e.renameNoReplace(tmp, target)
		}
	} else {
		err = e.root.Rename(tmp, target)
	}
	if err != nil {
		return err
	}
	keep = true
	e.downloaded(a, out, meta, sum, observe(target, fi))
	return nil
}

// downloaded records a file just renamed into place: le is what the temp file's fstat
// saw (a rename keeps inode, size and mtime) and sum the hash of the stream written,
// so the file is not read again.
func (e *Engine) downloaded(a *action, out *outcome, meta protocol.Metadata, sum string, le localEntry) {
	le.Hash, le.At = sum, time.Now().UnixNano()
	e.mu.Lock()
	e.local[a.key] = le
	e.base[a.key] = baseEntry{Path: a.path, Hash: sum}
	if a.r.Hash != sum && meta.Seq > a.r.Seq {
		m := a.r
		m.Hash, m.Seq, m.Size = sum, meta.Seq, le.Size
		e.setRemote(m)
	}
	e.ensureParents(a.path, 0)
	e.dirty = true
	e.mu.Unlock()
	e.log.Info("downloaded", "path", a.path, "size", le.Size)
	if a.key == IgnoreFileName {
		out.again("")
	}
}

// renameNoReplace renames from to to (both in the same directory under the root)
// unless to exists (fs.ErrExist), with the platform's atomic call (fsys).
func (e *Engine) renameNoReplace(from, to string) error {
	err := e.root.RenameNoReplace(from, to)
	if errors.Is(err, fs.ErrExist) {
		return fs.ErrExist
	}
	return err
}
