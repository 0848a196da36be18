package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// disk is the local file-system side of the engine: scanning and watching DIR
// (scan.go, watch.go) and applying decisions to it (this file): local deletes and
// directories, downloaded content written into place, server moves mirrored, conflict
// copies (conflict.go). Every operation goes through the fsys.FS opened on DIR.
type disk struct{ *Engine }

func (e disk) deleteLocal(a *action, out *outcome) error {
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
			if fsys.IsNotEmpty(err) {
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
		e.dirty = true
		e.mu.Unlock()
		out.again(a.key)
		return nil
	}
	if free, err := (placer{e}).removeChecked(a, out, a.lpath, cur); err != nil || !free {
		return err
	}
	forget()
	e.log.Info("deleted locally", "path", a.lpath)
	return nil
}

func (e disk) mkdirLocal(a *action, out *outcome) error {
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
		free := false
		if bOK && !b.Dir && b.Hash == cur.Hash {
			if free, err = (placer{e}).removeChecked(a, out, target, cur); err != nil {
				return err
			}
		}
		if !free {
			if _, err := e.moveAside(a.key, target, out); err != nil {
				return err
			}
		}
		cur = nil
	}
	if cur == nil {
		if dir := pathrule.Parent(target); dir != "" && renamedInCase(e.root, dir) {
			out.again(a.key) // decided again once the rename is seen
			return nil
		}
		if err := e.root.MkdirAll(target, 0o755); err != nil {
			return err
		}
		e.log.Info("created directory locally", "path", target)
	}
	e.mu.Lock()
	e.local[a.key] = localEntry{Path: target, Dir: true}
	e.base[a.key] = syncedBase(a.path, target, true, "")
	e.ensureParents(a.path, 0)
	e.dirty = true
	e.mu.Unlock()
	e.watchDir(target)
	return nil
}

// refuse remembers that the server refused this key's content and reports it once.
func (e disk) refuse(k, hash, p string, err error) {
	e.mu.Lock()
	e.refused[k] = hash
	e.mu.Unlock()
	e.reportOnce(p, "the server refused this local name or content, kept but not synced", err)
}

// tmpSeed is this process's random part of its temp file names, and tmpSeq numbers
// them: names unique within the process without a random read per file (a temp file
// is created with O_EXCL all the same).
var (
	tmpSeed = func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	tmpSeq atomic.Uint64
)

// tmpName returns a fresh temp file name in the directory of p.
func tmpName(p string) string {
	name := tmpPrefix + tmpSeed + "-" + strconv.FormatUint(tmpSeq.Add(1), 36)
	if dir := pathrule.Parent(p); dir != "" {
		return dir + "/" + name
	}
	return name
}

// downloadFrom writes the content fetch produces into place at a's local path: into a
// temp file beside the target (hashed while streaming and checked against the hash
// fetch reports, mtime set), then renamed over the target only after the re-check of
// what is there (place: only synced content is replaced; anything else becomes a
// conflict copy; a name that appeared meanwhile is never replaced). fetch writes the
// content to w and returns its metadata (Hash, Seq, Modified); a not_found from it
// means the file is gone from the server.
func (e disk) downloadFrom(a *action, out *outcome, pr *progress, fetch func(w io.Writer) (protocol.Metadata, error)) error {
	return e.downloadInto(a, out, pr, true, fetch)
}

// downloadInto is downloadFrom; cut false skips cutting a large file into chunks
// while it is written (a delta download knows its list already).
func (e disk) downloadInto(a *action, out *outcome, pr *progress, cut bool, fetch func(w io.Writer) (protocol.Metadata, error)) error {
	tmp := tmpName(a.lpath)
	f, err := e.createTemp(a, out, tmp)
	if err != nil || f == nil {
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
	h := e.newContentSum(a.r.Size, cut)
	defer h.finish()
	var w io.Writer = io.MultiWriter(&fsys.WriteBehind{File: f}, h)
	if pr != nil {
		w = io.MultiWriter(&fsys.WriteBehind{File: f}, h, countWriter{pr})
	}
	meta, err := fetch(w)
	if err != nil {
		if errors.Is(err, protocol.ErrNotFound) {
			out.needCatchUp()
			out.again(a.key)
			return nil
		}
		return err
	}
	sum, list := h.finish()
	if meta.Hash != "" && meta.Hash != sum {
		return fmt.Errorf("download %s: %w", a.path, errContentMismatch)
	}
	e.chunks.put(sum, list, h.prints())
	fi, err := e.finishTemp(a, f, meta, sum)
	closed = true
	if err != nil {
		return err
	}
	keep, err = placer{e}.place(a, out, tmp, meta, sum, fi)
	return err
}

// createTemp creates the temp file tmp for a's download, making a missing parent
// directory. A nil file and nil error mean the key is left to a later pass (a file
// stands where a parent directory should be).
func (e disk) createTemp(a *action, out *outcome, tmp string) (fsys.File, error) {
	target := a.lpath
	f, err := e.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		// The parent is missing (directories are usually made before transfers).
		if dir := pathrule.Parent(target); dir != "" {
			if renamedInCase(e.root, dir) {
				out.again(a.key) // decided again once the rename is seen
				return nil, nil
			}
			if err := e.root.MkdirAll(dir, 0o755); err != nil {
				if fsys.IsNotDir(err) || errors.Is(err, fs.ErrExist) {
					out.again(a.key) // a file in the way of a parent: settled by its own key
					return nil, nil
				}
				return nil, err
			}
		}
		f, err = e.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if fsys.IsNotDir(err) {
		out.again(a.key)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// renamedInCase reports whether a directory of root on the way to dir (missing, as
// the plan saw it) stands on this disk under another spelling that folds to the same
// name: the user renamed it in case (docs → Docs) since the pass looked. Making dir
// then would make a second directory beside the renamed one, which folds to the
// same key and is kept but not synced.
func renamedInCase(root fsys.FS, dir string) bool {
	at := "."
	for _, seg := range strings.Split(dir, "/") {
		des, err := root.ReadDir(at)
		if err != nil {
			return false
		}
		exact, folded := false, false
		for _, de := range des {
			exact = exact || de.Name() == seg
			folded = folded || pathrule.FoldKey(de.Name()) == pathrule.FoldKey(seg)
		}
		if !exact {
			return folded
		}
		at = pathJoin(at, seg)
	}
	return false
}

// finishTemp sets the written temp file's mtime, syncs it where the platform cannot
// sync the whole file system, and closes it; it returns what fstat saw (a rename keeps
// inode, size and mtime).
func (e disk) finishTemp(a *action, f fsys.File, meta protocol.Metadata, sum string) (fs.FileInfo, error) {
	mtime := meta.Modified
	if a.r.Hash == sum && !a.r.Modified.IsZero() {
		mtime = a.r.Modified
	}
	if !mtime.IsZero() {
		_ = f.SetTimes(mtime, mtime)
	}
	e.mu.Lock()
	_, known := e.local[a.key]
	e.mu.Unlock()
	if known {
		keepMode(e.root, a.lpath, f)
	}
	if e.perFileSync {
		// No syncfs before the state save here (Windows): the file itself.
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fi, f.Close()
}

// keepMode gives tmp, the temp file of a download that is to replace the local file
// lpath under root, that file's permission bits, so that a file the user made private
// (0600) does not become readable by others, nor a script (0755) lose its execute
// bits, when another client changes its content. Unix only: Windows has no such bits
// (its read-only attribute is not carried over, which would make the next
// replacement fail). Best effort: a failure leaves the usual mode.
func keepMode(root fsys.FS, lpath string, tmp fsys.File) {
	c, ok := tmp.(interface{ Chmod(fs.FileMode) error })
	if !ok || runtime.GOOS == "windows" {
		return
	}
	if fi, err := root.Lstat(lpath); err == nil && fi.Mode().IsRegular() {
		_ = c.Chmod(fi.Mode().Perm())
	}
}

// downloaded records a file just renamed into place: le is what the temp file's fstat
// saw (a rename keeps inode, size and mtime) and sum the hash of the stream written,
// so the file is not read again.
func (e disk) downloaded(a *action, out *outcome, meta protocol.Metadata, sum string, le localEntry) {
	le.Hash, le.At = sum, time.Now().UnixNano()
	e.mu.Lock()
	e.local[a.key] = le
	b, renameNext := e.fileBase(a.key, a.path, le.Path, sum)
	e.base[a.key] = b
	if renameNext {
		out.again(a.key)
	}
	if a.r.Hash != sum && meta.Seq > a.r.Seq {
		m := a.r
		m.Hash, m.Seq, m.Size = sum, meta.Seq, le.Size
		e.setRemote(m)
	}
	e.ensureParents(a.path, 0)
	e.dirty = true
	e.mu.Unlock()
	e.keepChunks(sum)
	e.log.Info("downloaded", "path", a.path, "size", le.Size)
	if a.key == IgnoreFileName {
		out.again("")
	}
}

// fileBase is the base of key after its content sum was synced (downloaded or
// uploaded) between server path p and local path lpath. The content agrees; the
// names may not: when the local name differs from the server's in case (or Unicode
// form) otherwise than at the last agreement, one side renamed the file since
// (report.txt → Report.txt here or on the server). The base then keeps the spelling
// last agreed, and renameNext asks for the key to be decided again, which carries the
// rename (followCase: a local rename moved on the server, a server one followed
// here). Recording the local spelling instead took it for this disk's own and left
// the names apart for good. The caller holds e.mu.
func (e *book) fileBase(key, p, lpath, sum string) (b baseEntry, renameNext bool) {
	b = syncedBase(p, lpath, false, sum)
	old, ok := e.base[key]
	if !ok || old.Dir || b.Name == "" || b.Name == old.Name {
		return b, false
	}
	b.Path, b.Name = pathJoin(pathrule.Parent(p), pathrule.Base(old.Path)), old.Name
	return b, true
}

// tryLocalMove mirrors a server Move by renaming the local file or directory, when
// the local source is still what was synced and the target is free, and reports
// whether it did.
func (e disk) tryLocalMove(mv pendingMove) bool {
	e.mu.Lock()
	l, lok := e.local[mv.fromKey]
	b, bok := e.base[mv.fromKey]
	_, tok := e.local[mv.toKey]
	linked := e.underOther(mv.toKey) // never moved through a symlink
	e.mu.Unlock()
	if !lok || !bok || linked || l.Dir != mv.dir || b.Dir != mv.dir || (tok && mv.toKey != mv.fromKey) {
		return false
	}
	e.mu.Lock()
	to := e.localPathFor(mv.toPath)
	e.mu.Unlock()
	if !l.Dir {
		cur, err := e.statLocal(l.Path, &l)
		if err != nil || cur == nil || cur.Hash != b.Hash {
			return false
		}
	}
	if mv.toKey != mv.fromKey {
		if _, err := e.root.Lstat(to); err == nil {
			return false
		}
	}
	if dir := pathrule.Parent(to); dir != "" {
		if renamedInCase(e.root, dir) {
			return false // synced by content, once the rename is seen
		}
		if err := e.root.MkdirAll(dir, 0o755); err != nil {
			return false
		}
	}
	runBeforeReplace(to)
	if err := e.rename(l.Path, to, mv.toKey == mv.fromKey); err != nil {
		e.log.Debug("local move failed, syncing by content", "from", l.Path, "to", to, "err", err)
		return false
	}
	e.mu.Lock()
	moveLocal(e.local, mv.fromKey, l.Path, mv.toKey, to)
	moveBase(e.base, mv.fromKey, b.Path, mv.toKey, mv.toPath, localName(mv.toPath, to))
	e.dirty = true
	e.mu.Unlock()
	if l.Dir && e.watch != nil {
		e.watch.forget(l.Path)
		_, _ = e.scan(to) // re-adds watches under the new name
	}
	e.log.Info("moved locally", "from", l.Path, "to", to)
	return true
}

// followServerCase carries out opMoveLocal: the server renamed a's last segment in
// case only; the local name follows when it still holds what was synced. Otherwise
// the base takes the server's spelling and the local name stays as it is. A
// directory renamed here is returned as its local paths before and after (dir true).
func (e disk) followServerCase(a *action) (from, to string, dir bool) {
	e.mu.Lock()
	b := e.base[a.key]
	from = e.local[a.key].Path
	e.mu.Unlock()
	if e.tryLocalMove(pendingMove{fromKey: a.key, fromPath: b.Path, toKey: a.key, toPath: a.r.Path, dir: a.r.IsDirectory}) {
		e.mu.Lock()
		to = e.local[a.key].Path
		e.mu.Unlock()
		return from, to, a.r.IsDirectory && from != ""
	}
	e.mu.Lock()
	e.recordBase(a)
	e.mu.Unlock()
	return "", "", false
}

// repathUnder rewrites the local paths of acts that lie in local directory from,
// which this pass renamed to to (a server case-only rename followed): they were
// planned under the old spelling, and a download there would make the old directory
// again beside the renamed one.
func repathUnder(from, to string, acts ...[]*action) {
	for _, list := range acts {
		for _, a := range list {
			if a.lpath != from && pathrule.Within(a.lpath, from) {
				a.lpath = to + a.lpath[len(from):]
			}
		}
	}
}

// rename renames the local from to to; caseOnly says the two differ only in case (or
// Unicode form). It never replaces another file: a name made at to since it was found
// free, or on a case-sensitive disk another file spelled as to, is kept (fs.ErrExist)
// and the move is then synced by content. A
// case-insensitive file system that keeps the old spelling on a case-only rename (it
// found the target "already there") gets it in two steps, through a temporary name in
// the same directory.
func (e disk) rename(from, to string, caseOnly bool) error {
	if !caseOnly {
		return e.root.RenameNoReplace(from, to)
	}
	if from != to {
		// Another file spelled exactly so (a case-sensitive disk holding both names,
		// one kept but not synced) is never replaced.
		if ok, err := e.listed(to); ok || err != nil {
			if err == nil {
				err = &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
			}
			return err
		}
	}
	if err := e.root.Rename(from, to); err != nil || from == to {
		return err
	}
	if ok, err := e.listed(to); ok || err != nil {
		return err
	}
	dir := pathrule.Parent(to)
	tmp := fmt.Sprintf("%scase-%d", tmpPrefix, time.Now().UnixNano())
	if dir != "" {
		tmp = dir + "/" + tmp
	}
	if err := e.root.RenameNoReplace(from, tmp); err != nil {
		return err
	}
	if err := e.root.RenameNoReplace(tmp, to); err != nil {
		_ = e.root.Rename(tmp, from)
		return err
	}
	return nil
}

// listed reports whether p exists spelled exactly so: each directory on the way lists
// the next segment by that very name (a case-insensitive file system also finds p
// under another case or Unicode form).
func (e disk) listed(p string) (bool, error) {
	dir := "."
	for _, seg := range strings.Split(p, "/") {
		des, err := e.root.ReadDir(dir)
		if err != nil {
			return false, err
		}
		found := false
		for _, de := range des {
			if de.Name() == seg {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
		dir = pathJoin(dir, seg)
	}
	return true, nil
}

// pathJoin joins a '/'-separated directory ("." for DIR) and a name.
func pathJoin(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	return dir + "/" + name
}
