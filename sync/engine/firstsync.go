package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// treeSync is the first pass of a folder that holds nothing yet, against a server
// whose archive can be the listing (TreeArchiver): the archive of the whole tree gives
// the server's entries, epoch and seq as List would (same snapshot, same order, the
// first name of each folded key winning), and each directory is made and each file
// written as it arrives, recorded in the base as a download is. There is no List and
// no plan: both would only find that every entry is a download. Every file goes
// through disk.downloadFrom (temp file, hash checked, rename that never replaces),
// every name through the archive reader's path checks and CheckMeta. A file not
// written is retried; what the server changed during the archive comes from the
// changes feed (SyncOnce's next pass, confirm below) or the live stream (Run) after
// the archive's seq; an archive cut or refused makes the pass an ordinary full
// reconcile, which keeps what was written.
type treeSync struct {
	e *Engine
	// deferFlush lets a complete pass leave the flush of what it wrote to a mark in
	// the state (flushmark.go): SyncOnce's.
	deferFlush bool
	out        *outcome  // the first pass's
	picked     []*action // the files it set out to write (pick's, one goroutine)
}

// first runs the first pass when it applies: a TreeArchiver remote, no progress to
// show (the archive does not say in advance how many files it holds), no state (no
// epoch, an empty base) and nothing in DIR but ignored names. handled is false when
// it does not apply or the server's archive is not a listing: the caller then runs
// fullSync.
func (t *treeSync) first(ctx context.Context) (res passResult, handled bool, err error) {
	e := t.e
	ta, ok := e.remote.(TreeArchiver)
	if !ok || e.opts.Progress != nil {
		return passResult{}, false, nil
	}
	e.mu.Lock()
	fresh := e.epoch == "" && len(e.base) == 0 && !e.haveList
	e.mu.Unlock()
	if !fresh || !e.disk.folderEmpty() {
		return passResult{}, false, nil
	}
	if err := e.checkRoot(); err != nil {
		return passResult{}, true, err
	}
	// Run: DIR is watched before anything is written, as the scan does (each
	// directory the archive makes is watched by mkdirLocal).
	e.disk.watchDir("")
	// As execute: once ctx ends nothing new starts; what is under way gets StopGrace.
	octx, release := withGrace(ctx, StopGrace)
	defer release()
	rd, err := ta.ArchiveTree(octx)
	if err != nil {
		if !errors.Is(err, ErrNoTree) {
			e.log.Info("no archive of the tree, listing", "err", err)
		}
		return passResult{}, false, nil
	}
	defer rd.Close()
	e.st.reached()
	epoch, seq := rd.Head()
	e.mu.Lock()
	e.epoch, e.seq, e.remoteM = epoch, seq, map[string]protocol.Metadata{}
	e.pending, e.ownSeqs = map[int64]protocol.Event{}, map[int64]bool{}
	e.local, e.others = map[string]localEntry{}, map[string]string{}
	e.batchTouched, e.batchMoves = map[string]bool{}, nil
	e.dirty = true
	e.mu.Unlock()

	t.out = &outcome{retry: map[string]bool{}}
	e.log.Info("downloading the whole tree as an archive", "epoch", epoch, "seq", seq)
	u := e.xfer.newUnpacker(octx, t.out, nil)
	cache, deferred := t.deferCache()
	if deferred {
		u.flush = nil // no flushes meanwhile either: the state will not wait for one
	}
	entries, used, complete := u.read(rd, "", t.pick)
	u.wait()
	e.log.Info("archive done", "dir", "", "entries", entries, "used", used, "written", len(u.done))
	if t.out.fatal != nil {
		return passResult{}, true, t.out.fatal
	}
	if !complete || ctx.Err() != nil {
		// The server's entries are known only in part: a full reconcile (List) decides
		// the rest; what was written is in the base and agrees.
		if ctx.Err() != nil {
			return passResult{}, true, ctx.Err()
		}
		res, err := e.fullSync(ctx, true)
		return res, true, err
	}
	e.mu.Lock()
	e.haveList = true
	e.flushDefer, e.markCache = deferred, cache
	for k := range t.out.retry {
		e.retry[k] = true
	}
	failed := 0
	for _, a := range t.picked {
		if !u.done[a] { // not written: retried (Run's retry timer), planned again (SyncOnce)
			e.retry[a.key] = true
			failed++
		}
	}
	e.mu.Unlock()
	e.st.setUnsynced(0)
	retries := len(t.out.retry) > 0 || t.out.errCount > 0 || failed > 0
	return passResult{actions: entries, retries: retries, fromTree: true}, true, nil
}

// deferCache is the page cache a state saved after this pass names instead of
// flushing (flushmark.go), when the pass may defer the flush (ok).
func (t *treeSync) deferCache() (id string, ok bool) {
	if !t.deferFlush || t.e.perFileSync {
		return "", false
	}
	return cacheID(t.e.rootPath)
}

// confirm is SyncOnce's pass after a complete first pass (confirm narrowed): the
// changes feed from the archive's seq, then a plan of the keys it touched and of every
// server entry the archive left out of the base (not written, ignored, failed), with
// a fresh look at each of their local paths; no walk of the whole folder (unless the
// archive brought ignore rules). The folder
// held nothing but ignored names before the pass and each file the pass wrote is
// recorded with the stat of its own write (the temp file's, kept by the rename), so a
// file changed by hand meanwhile shows another size, mtime or inode to the next scan
// and a name created by hand is new to it: what the walk would find now, the next
// start finds, and nothing is lost or overwritten in between
// (TestTreeSyncHandChangeFoundNext).
func (t *treeSync) confirm(ctx context.Context) (passResult, error) {
	e := t.e
	if err := e.catchUp(ctx); err != nil {
		if errors.Is(err, errResync) {
			return e.fullSync(ctx, false)
		}
		return passResult{}, fmt.Errorf("changes: %w", err)
	}
	if err := e.checkRoot(); err != nil {
		return passResult{}, err
	}
	if e.disk.loadIgnore() {
		// The archive brought a .syncignore: every key is decided again under its
		// rules (a name they no longer ignore is fetched), after a walk of DIR.
		return e.localFull(ctx)
	}
	e.mu.Lock()
	for k := range e.remoteM {
		if _, ok := e.base[k]; !ok {
			e.batchTouched[k] = true
		}
	}
	e.mu.Unlock()
	return e.remotePass(ctx)
}

// pick takes one entry of the archive as List's entry and returns the download that
// writes it (nil: nothing to write now). A directory is made at once (its files
// follow it in path order).
func (t *treeSync) pick(m protocol.Metadata) *action {
	e := t.e
	if err := CheckMeta(m); err != nil {
		e.log.Warn("ignoring a bad entry from the server", "err", err)
		return nil
	}
	if e.aliasRefused(m.Path) {
		e.disk.reportOnce(m.Path, "server name kept on the server but not synced", errShortAlias)
		return nil
	}
	k := pathrule.FoldKey(m.Path)
	e.mu.Lock()
	if prev, ok := e.remoteM[k]; ok {
		e.mu.Unlock()
		if prev.Path != m.Path {
			// As fullSync: the first listed is synced, the other kept on the server.
			e.disk.reportOnce(m.Path, "server name differs only in case or Unicode form from "+prev.Path+", kept on the server but not synced", nil)
		} else {
			e.log.Warn("ignoring a repeated entry of the archive", "path", m.Path)
		}
		return nil
	}
	e.remoteM[k] = m
	ignored := e.ig.Ignored(m.Path, m.IsDirectory)
	e.mu.Unlock()
	if ignored {
		return nil
	}
	// The local path is the server's, as a plan made over an empty folder gives it
	// (localPathFor with nothing local): the same result as the listing's pass, also
	// for a name under a directory that lost its key to a case twin.
	a := &action{op: opDownload, key: k, path: m.Path, lpath: m.Path, r: m, rOK: true}
	if m.IsDirectory {
		a.op = opMkdirLocal
		if err := e.disk.mkdirLocal(a, t.out); err != nil {
			e.stepFailed(t.out, a, err)
		}
		return nil
	}
	t.picked = append(t.picked, a)
	return a
}

// folderEmpty reports whether DIR holds nothing to sync: every name in it is ignored
// (the state directory always is). A directory counts as something even if all it
// holds is ignored.
func (e disk) folderEmpty() bool {
	e.loadIgnore()
	des, err := e.root.ReadDir(".")
	if err != nil {
		return false
	}
	e.mu.Lock()
	ig := e.ig
	e.mu.Unlock()
	for _, de := range des {
		if !ig.Ignored(de.Name(), de.IsDir()) {
			return false
		}
	}
	return true
}
