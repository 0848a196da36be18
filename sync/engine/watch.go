package engine

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watcher turns fsnotify events on every directory of DIR into debounced batches of
// relative paths. fsnotify is not recursive: a watch is added for each directory a scan
// finds and for each directory created later. Names of the client itself (.syncspace,
// temp files) are dropped here.
type watcher struct {
	fs       *fsnotify.Watcher
	root     string
	debounce time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	dirs   map[string]bool
	warned bool

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
	return &watcher{
		fs: fw, root: root, debounce: debounce, log: log,
		dirs:     map[string]bool{},
		batches:  make(chan []string, 1),
		overflow: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}, nil
}

// add watches the directory at the relative path rel ("" = DIR).
func (w *watcher) add(rel string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dirs[rel] {
		return
	}
	abs := w.root
	if rel != "" {
		abs = filepath.Join(w.root, filepath.FromSlash(rel))
	}
	if err := w.fs.Add(abs); err != nil {
		if !w.warned {
			w.warned = true
			w.log.Warn("cannot watch a directory (inotify limit?); its changes are found by the periodic rescan", "path", rel, "err", err)
		}
		return
	}
	w.dirs[rel] = true
}

// forget drops the bookkeeping of watches under rel (the kernel removes the watch of a
// deleted directory itself).
func (w *watcher) forget(rel string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.dirs {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			delete(w.dirs, d)
		}
	}
}

func (w *watcher) close() {
	w.once.Do(func() {
		close(w.done)
		w.fs.Close()
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

// run reads fsnotify until ctx ends, sending batches after Debounce of quiet (or 4 ×
// Debounce after the first event of a burst).
func (w *watcher) run(ctx context.Context) {
	pending := map[string]bool{}
	var quiet, limit <-chan time.Time
	flush := func() {
		if len(pending) == 0 {
			return
		}
		batch := make([]string, 0, len(pending))
		for p := range pending {
			batch = append(batch, p)
		}
		select {
		case w.batches <- batch:
			pending = map[string]bool{}
			quiet, limit = nil, nil
		case <-ctx.Done():
		case <-w.done:
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
			r, ok := w.rel(ev.Name)
			if !ok {
				continue
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				w.forget(r)
			}
			pending[r] = true
			quiet = time.After(w.debounce)
			if limit == nil {
				limit = time.After(4 * w.debounce)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				select {
				case w.overflow <- struct{}{}:
				default:
				}
			} else {
				w.log.Debug("watcher error", "err", err)
			}
		case <-quiet:
			flush()
		case <-limit:
			flush()
		}
	}
}

// watchDir adds a watch on a local directory when the engine runs with a watcher.
func (e *Engine) watchDir(rel string) {
	if e.watch != nil {
		e.watch.add(rel)
	}
}
