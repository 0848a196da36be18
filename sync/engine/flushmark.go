package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
)

// The deferred flush. The base must never vouch for a file whose content is not on the
// disk: after a crash, such a file could come back empty or half-written, and the next
// start would take it for a local edit and upload it. So the state is written only
// after a flush of the folder's file system (syncfs) that began after the writes it
// vouches for: on a quiet disk that flush is a tenth of a first sync's time.
//
// A first sync into an empty folder by SyncOnce (the tree pass) may save its state
// without that flush, with a mark instead (unflushedMark, a state file of version
// markedStateVersion): "the files and directories of this base may not be on the disk
// yet; they were written under this page cache (fsys.CacheID) before this time". The
// promise then reads: while the mark is in the state file, the engine writes nothing
// else into the folder (the barrier below flushes and writes an unmarked state first),
// and every start that finds a mark clears it before anything else:
//
//   - Same page cache (no reboot, no remount since the mark): every write reads back
//     as written, exactly as if it had been flushed; the start's save flushes and
//     writes the state without the mark.
//   - Another page cache, or one that cannot be told (a crash may have lost writes):
//     each entry of the base is checked against the folder before anything is
//     planned (verifyUnflushed): a directory still there and a file with the
//     base's hash stay synced; a missing one leaves the base (downloaded again, never
//     deleted on the server); a file with other content that a torn write of this
//     pass could have left (no larger than written, mtime the one set or not after
//     the mark) is moved aside into DIR/.syncspace and leaves the base (downloaded
//     again, never uploaded, and nothing of the user's lost should it have been an
//     edit); any other content is an edit made after the mark and stays under its
//     base, to be synced by the usual rules. Then the start's save flushes.
//
// An older client does not know version markedStateVersion and takes such a state
// as none: a two-way merge without deletes.

// markedStateVersion is the state file's version when it carries an unflushed mark.
const markedStateVersion = 2

// unflushedMark says that the base of the state file may not be on the disk yet.
type unflushedMark struct {
	// Cache is the fsys.CacheID of the folder when the files were written.
	Cache string `json:"cache"`
	// At is when the state was taken (Unix ns): every file of the base was written
	// before it.
	At int64 `json:"at"`
}

// cacheID is fsys.CacheID (tests replace it).
var cacheID = fsys.CacheID

// marker is the engine's side of the deferred flush: the marks, the barrier and the
// check at start. Its state is the Engine's flushDefer, markCache and marked.
type marker struct{ *Engine }

// barrier makes every earlier write to the folder durable and the state file
// unmarked when a marked state was written or is being written: called before the
// engine writes anything else into the folder. It returns the save's error.
func (e marker) barrier() error {
	e.mu.Lock()
	marked := e.marked || e.flushDefer
	e.flushDefer = false
	if marked {
		e.dirty = true
	}
	e.mu.Unlock()
	if !marked {
		return nil
	}
	return e.save()
}

// markFor returns the mark a save of the state p writes instead of flushing, or nil
// when this save flushes (or has nothing to flush). Caller holds e.mu.
func (e marker) markFor(p *persisted) *unflushedMark {
	if !e.flushDefer || len(p.Base) == 0 {
		return nil
	}
	e.marked = true
	return &unflushedMark{Cache: e.markCache, At: time.Now().UnixNano()}
}

// saved notes that a state with mark m is on the disk.
func (e marker) saved(m *unflushedMark) {
	if m == nil {
		e.mu.Lock()
		e.marked = false
		e.mu.Unlock()
	}
}

// clearMark settles the mark of a state read at start (see the top of this file):
// the entries of the base are checked unless the page cache is the one they were
// written under, and the state is to be saved (flushed) at once.
func (e marker) clearMark(m *unflushedMark) error {
	e.dirty = true
	if id, ok := cacheID(e.rootPath); ok && id == m.Cache {
		return nil
	}
	e.log.Warn("the last run's files may not have reached the disk before a restart: checking them", "files", len(e.base))
	return e.verifyUnflushed(m)
}

// verifyUnflushed checks each entry of a marked base against the folder (the second
// case at the top of this file). Caller holds e.mu or owns the engine alone (Open).
func (e marker) verifyUnflushed(m *unflushedMark) error {
	n := 0
	for k, b := range e.base {
		l, hasLocal := e.local[k]
		lp := b.Path
		if hasLocal {
			lp = l.Path
		}
		fi, err := e.root.Lstat(lp)
		switch {
		case err != nil && !errors.Is(err, fs.ErrNotExist) && !fsys.IsNotDir(err):
			return fmt.Errorf("check %s after a restart: %w", lp, err)
		case err != nil || b.Dir != fi.IsDir() || (!b.Dir && !fi.Mode().IsRegular()):
			e.forget(k) // gone, or not what was written: fetched again, never deleted
			continue
		case b.Dir:
			continue
		}
		at := time.Now().UnixNano()
		h, err := e.disk.hashFile(lp, "")
		if errors.Is(err, fs.ErrNotExist) {
			e.forget(k)
			continue
		}
		if err != nil {
			return fmt.Errorf("check %s after a restart: %w", lp, err)
		}
		now := observe(lp, fi)
		switch {
		case h == b.Hash:
			now.Hash, now.At = h, at
			e.local[k] = now
		case tornWrite(now, l, hasLocal, m):
			n++
			if err := e.setAside(lp, n); err != nil {
				return err
			}
			e.forget(k)
		default:
			delete(e.local, k) // an edit made after the mark: the scan hashes it again
		}
	}
	return nil
}

// tornWrite reports whether the file observed as now, written by the marked pass as
// written (when hasLocal), may be that write cut by a crash: no larger than written,
// and its mtime the one the write set or one the write itself could have had (not
// after the mark).
func tornWrite(now, written localEntry, hasLocal bool, m *unflushedMark) bool {
	if hasLocal && now.Size > written.Size {
		return false
	}
	return now.MtimeNs <= m.At || (hasLocal && now.MtimeNs == written.MtimeNs)
}

// forget drops key k from the base and the local observations.
func (e marker) forget(k string) {
	delete(e.base, k)
	delete(e.local, k)
}

// setAside moves the file lp (the n-th of this start) into DIR/.syncspace, out of the sync, where the user can
// still find it.
func (e marker) setAside(lp string, n int) error {
	tag := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(n)
	stem, ext := splitExt(path.Base(lp))
	to := path.Join(stateDirName, fitSegment("unflushed-"+tag+"-", stem, "", ext, pathrule.MaxSegmentBytes))
	if err := e.root.RenameNoReplace(lp, to); err != nil {
		return fmt.Errorf("set aside %s, which a crash may have cut: %w", lp, err)
	}
	e.log.Warn("set aside a file a crash may have cut; the server's copy is fetched again", "path", lp, "kept_as", to)
	return nil
}
