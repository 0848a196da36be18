package tenants

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/pathrule"
)

// Watcher timing.
const (
	watchDebounce = 200 * time.Millisecond // quiet time before a dirty directory is looked at
	watchRetry    = 500 * time.Millisecond // look again at files that changed while hashed
	watchRescan   = time.Minute            // periodic full rescan (watchers lose events)
)

// watcher turns changes made by hand in a tenant's files/ directory into change
// events. fsnotify is not recursive: every directory gets its own watch. Events only
// mark directories dirty; after watchDebounce the dirty directories are reconciled
// with the index (Space.reconcile), which ignores syncd's own writes because those are
// already in the index by the time the commit section is free.
type watcher struct {
	s      *Space
	fw     *fsnotify.Watcher
	base   string // absolute path of files/
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	dirty map[string]bool // directories ("" = root) to reconcile
	full  bool            // reconcile everything
}

// startWatcher starts the space's watcher (once).
func (s *Space) startWatcher(ctx context.Context) error {
	s.hmu.Lock()
	if s.w != nil || s.closed {
		s.hmu.Unlock()
		return nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		s.hmu.Unlock()
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{s: s, fw: fw, base: filepath.Join(s.dir, "files"), cancel: cancel, done: make(chan struct{}),
		dirty: map[string]bool{}, full: true}
	s.w = w
	s.hmu.Unlock()
	w.addTree("")
	go w.run(wctx)
	return nil
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// addTree adds watches on dir and every real directory under it.
func (w *watcher) addTree(dir string) {
	fi, err := w.s.files.Lstat(nameOrDot(dir))
	if err != nil || !fi.IsDir() {
		return
	}
	if err := w.fw.Add(filepath.Join(w.base, filepath.FromSlash(dir))); err != nil {
		w.s.log.Warn("watch directory", "path", dir, "err", err)
		return
	}
	names, err := readDirNames(w.s.files, nameOrDot(dir))
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
		if fi, err := w.s.files.Lstat(p); err == nil && fi.IsDir() {
			w.addTree(p)
		}
	}
}

func nameOrDot(p string) string {
	if p == "" {
		return "."
	}
	return p
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
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			p, ok := w.rel(ev.Name)
			if !ok {
				continue
			}
			if ev.Has(fsnotify.Create) && p != "" {
				if fi, err := w.s.files.Lstat(p); err == nil && fi.IsDir() {
					w.addTree(p)
				}
			}
			w.mu.Lock()
			// A change of a name (content, creation, removal) shows in its
			// parent's listing; the root's own events mark the root.
			if p == "" {
				w.dirty[""] = true
			} else {
				w.dirty[pathrule.Parent(p)] = true
			}
			w.mu.Unlock()
			timer.Reset(watchDebounce)
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
			timer.Reset(watchDebounce)
		case <-rescan.C:
			w.mu.Lock()
			w.full = true
			w.mu.Unlock()
			timer.Reset(0)
		case <-timer.C:
			if w.scan(ctx) {
				timer.Reset(watchRetry)
			}
		}
	}
}

// scan reconciles the dirty directories (or everything); true asks for another look.
func (w *watcher) scan(ctx context.Context) (again bool) {
	w.mu.Lock()
	full, dirty := w.full, w.dirty
	w.full, w.dirty = false, map[string]bool{}
	w.mu.Unlock()
	if full {
		w.addTree("")
		dirty = map[string]bool{"": true}
	}
	for dir := range dirty {
		if ctx.Err() != nil {
			return false
		}
		unstable, err := w.s.reconcile(ctx, dir, full)
		if err != nil {
			if protocol.CodeOf(err) == protocol.CodeNotFound {
				return false // the tenant is being deleted
			}
			if ctx.Err() == nil && !w.s.isClosed() {
				w.s.log.Warn("reconcile after disk change", "path", dir, "err", err)
				again = true
				w.mu.Lock()
				w.dirty[dir] = true
				w.mu.Unlock()
			}
			continue
		}
		if unstable {
			again = true
			w.mu.Lock()
			w.dirty[dir] = true
			w.mu.Unlock()
		}
	}
	return again
}
