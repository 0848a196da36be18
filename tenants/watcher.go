package tenants

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Watcher timing.
const (
	watchDebounce = 200 * time.Millisecond // quiet time before changed names are looked at
	watchMaxDelay = time.Second            // ... but no longer than this after the first
	watchRetry    = 500 * time.Millisecond // look again at files that changed while hashed
	// watchRescan is the period of a full rescan (a stat of every entry, no hashing of
	// files whose size and mtime match the index). inotify reports a lost event as a
	// queue overflow, which rescans at once; the periodic rescan only covers what
	// inotify cannot see (a name created in a new directory before its watch was
	// added, writes through a shared mmap).
	watchRescan = 10 * time.Minute
)

// watcher turns changes made by hand in a tenant's files/ directory into change
// events. fsnotify is not recursive: every directory gets its own watch. Events only
// mark names dirty; after watchDebounce of quiet (or watchMaxDelay) each dirty name is
// looked at alone: a name whose disk state is the one syncd's own write left there is
// dropped without a query (own.go); any other is compared with its index entry
// (Space.reconcileName), which also ignores syncd's own writes, already indexed by the
// time the commit section is free. Whole directories are reconciled only on a queue
// overflow or watch error, at start, every watchRescan, and for names whose case
// differs from an indexed one.
type watcher struct {
	s      *Space
	fw     *fsnotify.Watcher
	base   string // absolute path of files/
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	names map[string]bool // names to look at
	// seen is the disk state of a name in names as its last event found it, when
	// that event was a creation (whose lstat tells a new directory): isOwn compares
	// it instead of another lstat. Any later change of the name comes as another
	// event, which drops it (or queues the name again after the scan).
	seen map[string]ownMark
	// watched holds the directories given a watch (absolute paths; it may keep some
	// whose watch inotify dropped since), for unwatchTree.
	watched map[string]bool
	dirty   map[string]bool // directories ("" = root) to reconcile
	full    bool            // reconcile everything

	stats watchStats
}

// watchStats counts the watcher's work (tests and debugging).
type watchStats struct {
	mu                 sync.Mutex
	names, own, dirs   int // names looked at, of which own writes; directories reconciled
	fullScans, retries int
}

func (w *watcher) statsSnapshot() (names, own, dirs, full int) {
	w.stats.mu.Lock()
	defer w.stats.mu.Unlock()
	return w.stats.names, w.stats.own, w.stats.dirs, w.stats.fullScans
}

// startWatcher starts the space's watcher (once).
func (s *reconciler) startWatcher(ctx context.Context) error {
	s.hmu.Lock()
	if s.w != nil || s.closed || s.disk == nil {
		s.hmu.Unlock()
		return nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		s.hmu.Unlock()
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{s: s.Space, fw: fw, base: s.disk.WatchRoot(), cancel: cancel, done: make(chan struct{}),
		names: map[string]bool{}, seen: map[string]ownMark{}, watched: map[string]bool{}, dirty: map[string]bool{}, full: true}
	s.w = w
	s.hmu.Unlock()
	go w.run(wctx) // its first full scan adds the watches
	return nil
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// watchDir adds a watch on the real directory dir (reconcile's walks call it before
// they list a directory).
func (w *watcher) watchDir(dir string) {
	fi, err := w.s.disk.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return
	}
	w.add(dir)
}

// add adds a watch on the directory dir and records it (false: failed).
func (w *watcher) add(dir string) bool {
	abs := filepath.Join(w.base, filepath.FromSlash(dir))
	if err := w.fw.Add(abs); err != nil {
		if !errors.Is(err, fsnotify.ErrClosed) {
			w.s.log.Warn("watch directory", "path", dir, "err", err)
		}
		return false
	}
	w.mu.Lock()
	w.watched[abs] = true
	w.mu.Unlock()
	return true
}

// unwatchTree drops the watches of abs and of every directory under it, after abs was
// renamed away: an inotify watch follows its directory to the new name while fsnotify
// keeps naming its events by the old path, and adding the new path only finds that
// watch again. The new name's Create event then adds fresh watches (addTree).
func (w *watcher) unwatchTree(abs string) {
	w.mu.Lock()
	if !w.watched[abs] {
		w.mu.Unlock()
		return
	}
	drop := []string{abs}
	prefix := abs + string(filepath.Separator)
	for p := range w.watched {
		if strings.HasPrefix(p, prefix) {
			drop = append(drop, p)
		}
	}
	for _, p := range drop {
		delete(w.watched, p)
	}
	w.mu.Unlock()
	for _, p := range drop {
		_ = w.fw.Remove(p) // fsnotify may have dropped it already (IN_MOVE_SELF)
	}
}

// addTree adds watches on dir and every real directory under it.
func (w *watcher) addTree(dir string) {
	fi, err := w.s.disk.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return
	}
	if !w.add(dir) {
		return
	}
	names, err := w.s.disk.ReadDirNames(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		p := n
		if dir != "" {
			p = dir + "/" + n
		}
		if c, err := pathrule.Clean(p); err != nil || c != p {
			continue
		}
		if fi, err := w.s.disk.Lstat(p); err == nil && fi.IsDir() {
			w.addTree(p)
		}
	}
}

// rel turns an event's absolute name into a tenant path; ok is false outside files/.
func (w *watcher) rel(name string) (string, bool) {
	if name == w.base {
		return "", true
	}
	r, ok := strings.CutPrefix(name, w.base+string(filepath.Separator))
	if !ok {
		return "", false
	}
	return filepath.ToSlash(r), true
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	defer w.fw.Close()
	timer := time.NewTimer(0) // the initial full scan
	defer timer.Stop()
	rescan := time.NewTicker(watchRescan)
	defer rescan.Stop()
	var first time.Time // of the first event not looked at yet
	schedule := func(d time.Duration) {
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		if limit := first.Add(watchMaxDelay).Sub(now); d > limit {
			d = max(limit, 0)
		}
		timer.Reset(d)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if w.note(ev) {
				schedule(watchDebounce)
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.s.log.Warn("watch queue overflowed: rescanning")
			} else {
				w.s.log.Warn("watch error: rescanning", "err", err)
			}
			w.mu.Lock()
			w.full = true
			w.mu.Unlock()
			schedule(watchDebounce)
		case <-rescan.C:
			w.mu.Lock()
			w.full = true
			w.mu.Unlock()
			schedule(0)
		case <-timer.C:
			first = time.Time{}
			if w.scan(ctx) {
				w.stats.mu.Lock()
				w.stats.retries++
				w.stats.mu.Unlock()
				schedule(watchRetry)
			} else if ctx.Err() == nil {
				finishStartCheck(ctx, w.s)
			}
		}
	}
}

// note queues the name of an event under files/ (false: not under files/). A created
// directory gets its watches at once, a renamed one loses them (unwatchTree); a
// created name keeps the state its lstat found (seen).
func (w *watcher) note(ev fsnotify.Event) bool {
	p, ok := w.rel(ev.Name)
	if !ok {
		return false
	}
	var seen ownMark
	var seenOK bool
	switch {
	case ev.Has(fsnotify.Rename) && p != "":
		w.unwatchTree(ev.Name)
	case ev.Has(fsnotify.Remove):
		w.mu.Lock()
		delete(w.watched, ev.Name) // inotify dropped its watch
		w.mu.Unlock()
	}
	if ev.Has(fsnotify.Create) && p != "" {
		fi, err := w.s.disk.Lstat(p)
		if err == nil && fi.IsDir() {
			w.addTree(p)
		}
		seen, seenOK = lstatMark(fi, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// The root's own events (its attributes, its removal) mark the root.
	if p == "" {
		w.dirty[""] = true
		return true
	}
	w.names[p] = true
	if seenOK {
		w.seen[p] = seen
	} else {
		delete(w.seen, p)
	}
	return true
}

// scan looks at the dirty names, then reconciles the dirty directories (or
// everything); true asks for another look.
func (w *watcher) scan(ctx context.Context) (again bool) {
	w.mu.Lock()
	full, dirty, names, seen := w.full, w.dirty, w.names, w.seen
	w.full, w.dirty, w.names, w.seen = false, map[string]bool{}, map[string]bool{}, map[string]ownMark{}
	w.mu.Unlock()
	w.s.rc.expireOwn()
	if full {
		if hook := w.s.reg.startCheckHook; hook != nil && w.s.start.pending.Load() {
			hook(w.s.name)
		}
		// The walk of the whole tree below adds the watches as it lists each directory.
		dirty = map[string]bool{"": true}
		names = nil
		w.stats.mu.Lock()
		w.stats.fullScans++
		w.stats.mu.Unlock()
	}
	again, stop := w.scanNames(ctx, names, seen, dirty)
	if stop {
		return false
	}
	for dir := range dirty {
		if ctx.Err() != nil {
			return false
		}
		unstable, err := w.s.rc.reconcile(ctx, dir, full)
		if err != nil {
			if protocol.CodeOf(err) == protocol.CodeNotFound {
				return false // the tenant is being deleted
			}
			if ctx.Err() == nil && !w.s.isClosed() {
				w.s.log.Warn("reconcile after disk change", "path", dir, "err", err)
				again = true
				w.markDirty(dir)
				if full {
					w.markFull() // the rest of the tree is neither compared nor watched yet
				}
			}
			continue
		}
		if unstable {
			again = true
			w.markDirty(dir)
		}
	}
	return again
}

// scanNames looks at each dirty name whose directory is not dirty, parents first,
// and adds to dirty the directories that must be reconciled whole (seen: the disk
// state the names' events found, where known). again asks for another look; stop
// ends the scan (context done, tenant being deleted).
func (w *watcher) scanNames(ctx context.Context, names map[string]bool, seen map[string]ownMark, dirty map[string]bool) (again, stop bool) {
	// Parents before children: a new directory is reconciled with its subtree first.
	sorted := make([]string, 0, len(names))
	for p := range names {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var own int
	for _, p := range sorted {
		if ctx.Err() != nil {
			return false, true
		}
		if dirty[pathrule.Parent(p)] {
			continue // its directory is reconciled below
		}
		if w.isOwn(p, seen) {
			own++
			continue
		}
		unstable, needDir, err := w.s.rc.reconcileName(ctx, p, true)
		switch {
		case err != nil:
			if protocol.CodeOf(err) == protocol.CodeNotFound {
				return false, true // the tenant is being deleted
			}
			if ctx.Err() == nil && !w.s.isClosed() {
				w.s.log.Warn("reconcile after disk change", "path", p, "err", err)
				again = true
				w.markName(p)
			}
		case needDir:
			dirty[pathrule.Parent(p)] = true
		case unstable:
			again = true
			w.markName(p)
		}
	}
	w.stats.mu.Lock()
	w.stats.names += len(sorted)
	w.stats.own += own
	w.stats.dirs += len(dirty)
	w.stats.mu.Unlock()
	return again, false
}

// isOwn reports whether p shows syncd's own last write (reconciler.isOwn), judged on
// the state its event found (seen) where there is one.
func (w *watcher) isOwn(p string, seen map[string]ownMark) bool {
	if cur, ok := seen[p]; ok {
		return w.s.rc.isOwn(p, &cur)
	}
	return w.s.rc.isOwn(p, nil)
}

// markName and markDirty queue a name or a directory for the next scan.
func (w *watcher) markName(p string) {
	w.mu.Lock()
	w.names[p] = true
	w.mu.Unlock()
}

func (w *watcher) markFull() {
	w.mu.Lock()
	w.full = true
	w.mu.Unlock()
}

func (w *watcher) markDirty(dir string) {
	w.mu.Lock()
	w.dirty[dir] = true
	w.mu.Unlock()
}
