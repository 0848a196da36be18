package engine

import (
	"io"
	"os"
)

// watchBudget counts the descriptors the watcher's kqueue watches hold (macOS, the
// BSDs: one for a watched directory and one for each of its entries) against
// fsys.WatchCosts' budget, so that a folder of many files does not use up the
// process's descriptors (and with them every open and connection): a directory whose
// watch would pass the budget is not watched, and its local changes are found by the
// periodic rescan (RescanInterval, 2 min by default), said once in the log. Elsewhere
// (zero cost: inotify, ReadDirectoryChangesW) it counts nothing. Used under the
// watcher's mu.
type watchBudget struct {
	perEntry bool
	budget   int
	spent    int
	held     map[string]int // watched directory (relative path) → descriptors counted
	warned   bool
}

// afford reserves what a watch of the directory rel (at abs) holds; false when that
// would pass the budget (logged the first time).
func (w *watcher) afford(rel, abs string) bool {
	b := &w.cost
	if !b.perEntry {
		return true
	}
	n := 1 + countEntries(abs)
	if b.spent+n > b.budget {
		if !b.warned {
			b.warned = true
			w.log.Warn("too many files to watch them all with kqueue (a descriptor each) within half of the descriptor limit (ulimit -n); "+
				"changes in the directories not watched are found by the periodic rescan (every 2 min)",
				"path", rel, "watched_descriptors", b.spent, "budget", b.budget)
		}
		return false
	}
	b.spent += n
	if b.held == nil {
		b.held = map[string]int{}
	}
	b.held[rel] = n
	return true
}

// release gives back what the watch of rel held (it was removed, or its Add failed).
func (w *watcher) release(rel string) {
	if n, ok := w.cost.held[rel]; ok {
		w.cost.spent -= n
		delete(w.cost.held, rel)
	}
}

// countEntries returns the number of entries of the directory abs (0 if unreadable).
func countEntries(abs string) int {
	f, err := os.Open(abs)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(1024)
		n += len(names)
		if err == io.EOF || err != nil && len(names) == 0 {
			return n
		}
	}
}
