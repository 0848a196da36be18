package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// passResult tells what one pass did.
type passResult struct {
	actions  int  // planned steps (0: both sides agreed)
	retries  bool // something is left to do
	unsynced int  // local names kept but not synced (full passes only)
	// fromTree: the pass was treeSync's, its archive read to the end (firstsync.go);
	// the pass after it is treeSync.confirm.
	fromTree bool
}

// fullSync is a full reconcile: the server's list, a full local scan, every key
// decided. An epoch change drops the base (a merge without deletes).
func (e *Engine) fullSync(ctx context.Context, showProgress bool) (passResult, error) {
	if err := e.checkRoot(); err != nil {
		return passResult{}, err
	}
	e.mu.Lock()
	newM := make(map[string]protocol.Metadata, max(len(e.remoteM), len(e.base)))
	e.mu.Unlock()
	var epoch string
	var seq int64
	err := e.remote.List(ctx, func(ep string, s int64) error {
		epoch, seq = ep, s
		return nil
	}, func(m protocol.Metadata) error {
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
		k = shareBase(e.base, k, &m)
		e.mu.Unlock()
		if prev, ok := newM[k]; ok && prev.Path != m.Path {
			// Two server names that are one name here (case or Unicode form; the
			// server refuses to create such pairs, but older data may hold them):
			// the first listed is synced, the other kept on the server, not synced.
			e.disk.reportOnce(m.Path, "server name differs only in case or Unicode form from "+prev.Path+", kept on the server but not synced", nil)
			return nil
		}
		newM[k] = m
		return nil
	})
	if err != nil {
		return passResult{}, fmt.Errorf("list: %w", err)
	}
	e.st.reached()
	e.mu.Lock()
	if e.epoch != "" && epoch != e.epoch {
		e.log.Warn("the server's history changed (new epoch): merging both sides without deleting anything", "old", e.epoch, "new", epoch)
		e.base = map[string]baseEntry{}
	}
	if epoch != e.epoch {
		e.pending = map[int64]protocol.Event{}
		e.ownSeqs = map[int64]bool{}
	}
	if epoch != e.epoch || seq != e.seq {
		e.dirty = true
	}
	e.epoch, e.seq, e.remoteM, e.haveList = epoch, seq, newM, true
	for s := range e.pending {
		if s <= seq {
			delete(e.pending, s)
		}
	}
	e.batchTouched, e.batchMoves = map[string]bool{}, nil
	e.advance()
	e.mu.Unlock()

	sc, err := e.disk.scanAll()
	if err != nil {
		return passResult{}, err
	}
	e.mu.Lock()
	e.setLocal(sc)
	keys := e.allKeys()
	e.mu.Unlock()
	res, err := e.runPlan(ctx, keys, showProgress)
	res.unsynced = sc.unsynced + sc.held
	e.st.setUnsynced(sc.unsynced + sc.held)
	return res, err
}

// runPlan plans keys, applies the mass-delete guard, executes and follows up.
func (e *Engine) runPlan(ctx context.Context, keys map[string]bool, showProgress bool) (passResult, error) {
	e.mu.Lock()
	if !e.haveList {
		// Without one full snapshot of the server, an absent remote entry means
		// "unknown", not "deleted": decide nothing until a full reconcile worked.
		e.needFull = true
		e.mu.Unlock()
		return passResult{}, nil
	}
	pl := e.makePlan(keys)
	err := e.guard(pl)
	held, holding := 0, len(e.hold.keys) > 0
	if err == nil {
		held = e.holdDeletes(pl, keys, time.Now(), e.opts.DeleteSettle)
	}
	for _, k := range pl.recheck {
		e.retry[k] = true
	}
	e.mu.Unlock()
	if err != nil {
		return passResult{}, err
	}
	if held > 0 && !holding {
		e.log.Info("several local deletions: sent once none came for a while and the folder is still there", "paths", held, "settle", e.opts.DeleteSettle)
	}
	res := passResult{actions: len(pl.acts), retries: len(pl.recheck) > 0 || held > 0}
	var ups, downs []string
	for _, a := range pl.acts {
		switch a.op {
		case opUpload:
			ups = append(ups, a.key)
		case opDownload:
			downs = append(downs, a.key)
		}
	}
	e.st.planned(keys, ups, downs)
	if len(pl.acts) == 0 {
		return res, nil
	}
	if err := e.checkRoot(); err != nil {
		return res, err
	}
	out := e.execute(ctx, pl, showProgress)
	out.mu.Lock()
	e.st.done(append(ups, downs...), out.retry)
	out.mu.Unlock()
	if out.fatal != nil {
		return res, out.fatal
	}
	if out.catchUp {
		if err := e.catchUp(ctx); err != nil {
			e.mu.Lock()
			e.needFull = true
			e.mu.Unlock()
		}
	}
	e.mu.Lock()
	for k := range out.retry {
		e.retry[k] = true
	}
	res.retries = res.retries || len(out.retry) > 0 || out.errCount > 0
	e.mu.Unlock()
	return res, nil
}

// localFull rescans all of DIR against the remote map (no list).
func (e *Engine) localFull(ctx context.Context) (passResult, error) {
	if err := e.checkRoot(); err != nil {
		return passResult{}, err
	}
	sc, err := e.disk.scanAll()
	if err != nil {
		return passResult{}, err
	}
	e.st.setUnsynced(sc.unsynced)
	held := sc.unsynced + sc.held
	e.mu.Lock()
	e.setLocal(sc)
	keys := e.allKeys()
	e.mu.Unlock()
	res, err := e.runPlan(ctx, keys, false)
	res.unsynced = held
	return res, err
}

// confirm is SyncOnce's pass after the first: the server's changes since then from
// the changes feed (not a second listing of every entry), then a whole local scan and
// every key decided again. A feed that cannot answer (history rewritten, epoch
// changed) makes it a full reconcile.
func (e *Engine) confirm(ctx context.Context) (passResult, error) {
	if err := e.catchUp(ctx); err != nil {
		if errors.Is(err, errResync) {
			return e.fullSync(ctx, false)
		}
		return passResult{}, fmt.Errorf("changes: %w", err)
	}
	e.mu.Lock()
	moves := e.batchMoves
	e.batchTouched, e.batchMoves = map[string]bool{}, nil // every key is decided below
	e.mu.Unlock()
	for _, mv := range moves {
		e.disk.tryLocalMove(mv)
	}
	return e.localFull(ctx)
}

// allKeys is the set of every key the server's listing, the base or the local scan
// holds: the keys a full pass plans. Caller holds e.mu.
func (e *Engine) allKeys() map[string]bool {
	keys := make(map[string]bool, max(len(e.remoteM), len(e.base), len(e.local)))
	for k := range e.remoteM {
		keys[k] = true
	}
	for k := range e.base {
		keys[k] = true
	}
	for k := range e.local {
		keys[k] = true
	}
	return keys
}

// setLocal takes the local side of a whole-folder scan (e.mu held). The state is
// marked for saving only when the scan found something else than the saved stat
// cache holds: a pass that changed nothing writes no state file (and flushes no file
// system) on its way out.
func (e *Engine) setLocal(sc *scanOut) {
	if !maps.Equal(e.local, sc.entries) {
		e.dirty = true
	}
	shareHashes(sc.entries, e.remoteM)
	e.local, e.others = sc.entries, sc.others
}

// shareHashes makes each hash of local that the listing holds too the listing's
// string (which the base shares once recorded): one copy of it for the three maps.
func shareHashes(local map[string]localEntry, remote map[string]protocol.Metadata) {
	for k, l := range local {
		if r, ok := remote[k]; ok && r.Hash == l.Hash {
			l.Hash = r.Hash
			local[k] = l
		}
	}
}

// shareBase returns key k of the listed entry m, with k and m's path and hash
// replaced by the base's equal strings: one copy of each in memory for both maps.
func shareBase(base map[string]baseEntry, k string, m *protocol.Metadata) string {
	b, ok := base[k]
	if !ok {
		return k
	}
	if b.Path == m.Path {
		m.Path = b.Path
	}
	if b.Path == k {
		k = b.Path
	}
	if b.Hash == m.Hash {
		m.Hash = b.Hash
	}
	return k
}

// collapse drops paths that lie under another path of the list.
func collapse(paths []string) []string {
	set := map[string]bool{}
	for _, p := range paths {
		set[p] = true
	}
	var out []string
	for _, p := range paths {
		under := false
		for q := pathParent(p); q != ""; q = pathParent(q) {
			if set[q] {
				under = true
				break
			}
		}
		if !under && set[p] {
			out = append(out, p)
			delete(set, p)
			set[p] = false
		}
	}
	return out
}

func pathParent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// remotePass applies what server events changed: local moves first, then a plan of
// the touched keys against a fresh look at the local side.
func (e *Engine) remotePass(ctx context.Context) (passResult, error) {
	e.mu.Lock()
	touched, moves := e.batchTouched, e.batchMoves
	e.batchTouched, e.batchMoves = map[string]bool{}, nil
	e.mu.Unlock()
	if len(touched) == 0 {
		return passResult{}, nil
	}
	if err := e.checkRoot(); err != nil {
		return passResult{}, err
	}
	for _, mv := range moves {
		e.disk.tryLocalMove(mv)
	}
	for k := range touched {
		e.mu.Lock()
		l, lok := e.local[k]
		p := ""
		switch {
		case lok:
			p = l.Path
		default:
			if r, ok := e.remoteM[k]; ok {
				p = r.Path
			} else if b, ok := e.base[k]; ok {
				p = b.Path
			}
		}
		e.mu.Unlock()
		if p == "" {
			continue
		}
		var cached *localEntry
		if lok {
			cached = &l
		}
		cur, err := e.disk.statLocal(p, cached)
		e.mu.Lock()
		switch {
		case errors.Is(err, errOther):
			e.others[k] = p
		case err != nil:
			// unreadable now: leave the cached view
		case cur == nil:
			delete(e.local, k)
			e.dirty = true
		default:
			if !e.ig.Ignored(p, cur.Dir) {
				e.local[k] = *cur
				e.dirty = true
			}
		}
		e.mu.Unlock()
		if cur != nil && cur.Dir {
			e.disk.watchDir(p)
		}
	}
	return e.runPlan(ctx, touched, false)
}

// SyncOnce runs full reconciles until a pass finds nothing to do (at most a few) and
// reports whether DIR and the server agree. The state a pass leaves is saved (flush
// and write) while the next pass looks at both sides, and waited for before that
// pass's own state is saved or SyncOnce returns.
func (e *Engine) SyncOnce(ctx context.Context) (bool, error) {
	var saving <-chan error // the last pass's save, under way
	settle := func() error {
		if saving == nil {
			return nil
		}
		err := <-saving
		saving = nil
		return err
	}
	defer func() {
		_ = settle()
		_ = e.save()
	}()
	tree := &treeSync{e: e, deferFlush: true}
	var last passResult
	for i := 0; i < 4; i++ {
		var res passResult
		var err error
		switch {
		case i == 0:
			var handled bool
			if res, handled, err = tree.first(ctx); !handled {
				res, err = e.fullSync(ctx, true)
			}
		case last.fromTree:
			res, err = tree.confirm(ctx)
		default:
			res, err = e.confirm(ctx)
		}
		last = res
		if err != nil {
			if !e.st.noteErr(err) {
				e.st.failed(err)
			}
			return false, err
		}
		e.mu.Lock()
		e.retry = map[string]bool{}
		refused := len(e.refused)
		e.mu.Unlock()
		if err := settle(); err != nil {
			return false, err
		}
		if res.actions == 0 && !res.retries {
			if err := e.save(); err != nil {
				return false, err
			}
			e.st.synced()
			// DIR and the server agree only if no local name was left out.
			return refused == 0 && res.unsynced == 0, nil
		}
		saving = e.saveAsync()
	}
	return false, settle()
}

// retryKeys looks at keys again whose last step did not finish.
func (e *Engine) retryKeys(ctx context.Context, keys map[string]bool) (passResult, error) {
	var paths []string
	e.mu.Lock()
	for k := range keys {
		switch {
		case e.local[k].Path != "":
			paths = append(paths, e.local[k].Path)
		case e.remoteM[k].Path != "":
			paths = append(paths, e.remoteM[k].Path)
		case e.base[k].Path != "":
			paths = append(paths, e.base[k].Path)
		default:
			paths = append(paths, k)
		}
	}
	e.mu.Unlock()
	return e.localPass(ctx, paths)
}
