package engine

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/syncspace/syncspace/sync/fsys"
)

// watcher turns fsnotify events on every directory of DIR into debounced batches of
// relative paths. fsnotify is not recursive: a watch is added for each directory a scan
// finds and for each directory created later. Names of the client itself (.syncspace,
// temp files) are dropped here.
//
// An inotify watch follows its directory's inode, not its name: after a directory is
// renamed, the watches of its subdirectories still report events under the old path,
// and fsnotify keeps them registered under it (a later Add of the new path only finds
// the existing watch again). So when a directory is renamed, removed or replaced, every
// watch of its subtree is removed from fsnotify and forgotten; the scan of the new
// path that the event triggers walks the subtree and adds fresh watches under the new
// names (scan calls watchDir on each directory before reading it).
type watcher struct {
	fs *fsnotify.Watcher
	// hint reports files closed after writing (Linux; nil elsewhere): the leading edge of the
	// debounce (debounce.go).
	hint     *fsys.DoneWatcher
	root     string
	debounce time.Duration
	log      *slog.Logger

	mu sync.Mutex
	// dirs holds the watched directories (relative paths) with what Lstat said of each
	// just before its watch was added, to tell the same directory from a new one that
	// took its name.
	dirs map[string]fs.FileInfo
	// kids indexes dirs as a tree: parent path → child paths that are watched or have
	// watched descendants, so that forgetting a subtree costs its size, not all of dirs.
	kids map[string]map[string]bool
	// byID maps the file id of each watched directory to its path in dirs (the last
	// path it was watched under): see unshare.
	byID   map[uint64]string
	warned bool
	// cost counts kqueue's descriptors against their budget (watchbudget.go).
	cost watchBudget
	// busy is set when a batch is handed to the engine and cleared when the engine is
	// done with it (passDone): while it is set, nothing leads (debounce.go).
	busy atomic.Bool

	batches  chan []string
	overflow chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newWatcher(root string, debounce time.Duration, log *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{
		fs: fw, root: root, debounce: debounce, log: log,
		dirs:     map[string]fs.FileInfo{},
		kids:     map[string]map[string]bool{},
		byID:     map[uint64]string{},
		batches:  make(chan []string, 1),
		overflow: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	c := fsys.WatchCosts()
	w.cost = watchBudget{perEntry: c.PerEntry, budget: c.Budget}
	if h, err := fsys.NewDoneWatcher(); err == nil {
		w.hint = h
	}
	return w, nil
}

// abs turns the relative path rel ("" = DIR) into the absolute path fsnotify knows.
func (w *watcher) abs(rel string) string {
	if rel == "" {
		return w.root
	}
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

// add watches the directory at the relative path rel ("" = DIR). A directory that is
// gone (or no longer a directory) by now is skipped silently: the event that removed it
// is on its way.
func (w *watcher) add(rel string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.dirs[rel]; ok {
		return
	}
	abs := w.abs(rel)
	// Lstat before Add: if the name is replaced in between, the recorded identity is
	// the old one, and the Create event of the replacement renews the watch.
	fi, err := os.Lstat(abs)
	if err != nil || !fi.IsDir() {
		return
	}
	if !w.afford(rel, abs) {
		return
	}
	if err := w.fs.Add(abs); err != nil {
		w.release(rel)
		if errors.Is(err, fs.ErrNotExist) || fsys.IsNotDir(err) {
			return
		}
		if !w.warned {
			w.warned = true
			w.log.Warn("cannot watch a directory (inotify limit?); its changes are found by the periodic rescan", "path", rel, "err", err)
		}
		return
	}
	if w.hint != nil {
		_ = w.hint.Add(abs) // a hint only: without it, changes wait for the trailing edge
	}
	w.dirs[rel] = fi
	if id := fsys.FileID(fi); id != 0 {
		w.byID[id] = rel
	}
	for p := rel; p != ""; {
		parent := pathParent(p)
		m := w.kids[parent]
		if m == nil {
			m = map[string]bool{}
			w.kids[parent] = m
		}
		if m[p] {
			break
		}
		m[p] = true
		p = parent
	}
}

// forget removes the watches of rel and of every directory under it, from fsnotify and
// from the bookkeeping. Called when rel was renamed or removed (the watches of its
// subdirectories would keep reporting under the old path), and by the engine before it
// renames a directory itself.
func (w *watcher) forget(rel string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forgetLocked(rel)
}

func (w *watcher) forgetLocked(rel string) {
	var drop func(d string)
	drop = func(d string) {
		for k := range w.kids[d] {
			drop(k)
		}
		delete(w.kids, d)
		if fi, ok := w.dirs[d]; ok {
			delete(w.dirs, d)
			w.release(d)
			// ErrNonExistentWatch or EINVAL when the kernel already dropped the watch
			// of a deleted directory: nothing left to remove.
			_ = w.fs.Remove(w.abs(d))
			if w.hint != nil {
				w.hint.Remove(w.abs(d))
			}
			w.unshare(d, fi)
		}
	}
	drop(rel)
	if rel == "" {
		return
	}
	parent := pathParent(rel)
	if m := w.kids[parent]; m != nil {
		delete(m, rel)
		if len(m) == 0 {
			delete(w.kids, parent)
		}
	}
}

// unshare is called when the watch of d (a directory, fi) was removed. inotify has one
// watch per directory: when the directory was renamed and scanned under its new name
// before the watcher read the rename's events (the watcher waits in send while the
// engine runs a pass, and a pass scans what it touches), the Add of the new name found
// the watch of the old one, and removing the old name's watch took it from the new
// name too. The new name is then forgotten as well, so that the scan its event brings
// (the rename's Create) watches it again; before, nothing under it was seen any more.
func (w *watcher) unshare(d string, fi fs.FileInfo) {
	id := fsys.FileID(fi)
	other, ok := w.byID[id]
	if id == 0 || !ok {
		return
	}
	if other == d {
		delete(w.byID, id)
		return
	}
	if ofi, ok := w.dirs[other]; ok && os.SameFile(ofi, fi) {
		delete(w.dirs, other)
		delete(w.byID, id)
	}
}

// created handles a Create event of rel (a new name, or a name moved in). When a watched
// directory had that name and the one there now is another (a directory moved over it,
// or a subtree whose watches were added while fsnotify still held them under their old
// path), the subtree's watches are forgotten so that the scan of rel adds them afresh.
// The same directory still there (the engine made it and watched it already) is kept.
func (w *watcher) created(rel string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old, watched := w.dirs[rel]
	if !watched && w.kids[rel] == nil {
		return
	}
	if watched {
		if cur, err := os.Lstat(w.abs(rel)); err == nil && os.SameFile(old, cur) {
			return
		}
	}
	w.forgetLocked(rel)
}

func (w *watcher) close() {
	w.once.Do(func() {
		close(w.done)
		w.fs.Close()
		if w.hint != nil {
			w.hint.Close()
		}
	})
}

// rel turns an absolute event path into a '/'-separated path relative to DIR; ok is
// false for the client's own names and paths outside DIR.
func (w *watcher) rel(name string) (string, bool) {
	r, err := filepath.Rel(w.root, name)
	if err != nil || r == "." || strings.HasPrefix(r, "..") {
		return "", false
	}
	r = filepath.ToSlash(r)
	for _, s := range strings.Split(r, "/") {
		if internalName(s) {
			return "", false
		}
	}
	return r, true
}

// run reads fsnotify (and the completion hints) until ctx ends, sending batches as
// batcher says: complete changes after a quiet period at once, the rest after
// Debounce of quiet (or 4 × Debounce after the first event of a burst).
func (w *watcher) run(ctx context.Context) {
	b := newBatcher(w.debounce)
	var hints fsys.DoneEvents
	if w.hint != nil {
		hints = w.hint.Events()
	}
	var quiet, limit, lead <-chan time.Time
	arm := func() {
		quiet = time.After(w.debounce)
		if limit == nil {
			limit = time.After(4 * w.debounce)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if r, ok := w.event(ev); ok {
				b.changed(r, time.Now())
				arm()
			}
		case abs, ok := <-hints:
			if !ok {
				hints = nil
				continue
			}
			if r, ok := w.rel(abs); ok {
				if b.done(r, time.Now(), !w.busy.Load()) && lead == nil {
					lead = time.After(leadSettle)
				}
				arm()
			}
		case <-lead:
			lead = nil
			if w.busy.Load() {
				b.dropLead() // the engine is at work: this burst coalesces
				continue
			}
			w.send(ctx, b.takeLead())
			if len(b.pending) == 0 {
				quiet, limit = nil, nil
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.fsError(err)
		case <-quiet:
			w.send(ctx, b.takeAll())
			quiet, limit, lead = nil, nil, nil
		case <-limit:
			w.send(ctx, b.takeAll())
			quiet, limit, lead = nil, nil, nil
		}
	}
}

// event takes one fsnotify event: the watches it makes stale are dropped, and it
// returns the relative path to rescan (false for the client's own names).
func (w *watcher) event(ev fsnotify.Event) (string, bool) {
	r, ok := w.rel(ev.Name)
	if !ok {
		return "", false
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.forget(r)
	}
	if ev.Has(fsnotify.Create) {
		w.created(r)
	}
	// The batch holds r itself: the engine's scan of r walks its whole subtree
	// (re-adding the watches forgotten above under their current names).
	return r, true
}

// fsError takes an fsnotify error: an overflow asks for a full rescan.
func (w *watcher) fsError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		select {
		case w.overflow <- struct{}{}:
		default:
		}
		return
	}
	w.log.Debug("watcher error", "err", err)
}

// send hands a batch to the engine (nothing when empty); it waits while the engine
// still has the previous one, so changes made meanwhile coalesce.
func (w *watcher) send(ctx context.Context, batch []string) {
	if len(batch) == 0 {
		return
	}
	w.busy.Store(true) // before the hand-over: the engine may be done before send returns
	select {
	case w.batches <- batch:
	case <-ctx.Done():
	case <-w.done:
	}
}

// passDone tells the watcher that the engine is done with the batches it was given.
func (w *watcher) passDone() { w.busy.Store(false) }

// watchDir adds a watch on a local directory when the engine runs with a watcher.
func (e disk) watchDir(rel string) {
	if e.watch != nil {
		e.watch.add(rel)
	}
}
