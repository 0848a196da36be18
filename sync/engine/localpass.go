package engine

import (
	"context"
	"strings"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// localPass syncs the local paths a watcher batch reported. A file with other names
// (hard links) in DIR changes under those names too, of which the watcher says
// nothing: the other names the state knows for it are scanned as well.
func (e *Engine) localPass(ctx context.Context, paths []string) (passResult, error) {
	if err := e.checkRoot(); err != nil {
		return passResult{}, err
	}
	for _, p := range paths {
		if p == IgnoreFileName && e.disk.loadIgnore() {
			return e.localFull(ctx)
		}
	}
	lb := &localBatch{e: e, touched: map[string]bool{}, linked: map[uint64]bool{}}
	for _, p := range collapse(paths) {
		lb.take(p)
	}
	if len(lb.linked) > 0 {
		e.mu.Lock()
		twins := e.twinsOf(lb.linked, lb.touched)
		e.mu.Unlock()
		for _, p := range twins {
			lb.take(p)
		}
	}
	e.mu.Lock()
	for _, m := range []map[string]bool{keySet(e.base), keySet(e.remoteM)} {
		for k := range m {
			for _, pk := range lb.prefixes {
				if pathrule.Within(k, pk) {
					lb.touched[k] = true
					break
				}
			}
		}
	}
	e.mu.Unlock()
	return e.runPlan(ctx, lb.touched, false)
}

// localBatch gathers what the scans of one watcher batch found (localPass).
type localBatch struct {
	e        *Engine
	touched  map[string]bool // keys to decide
	prefixes []string        // the keys of the scanned paths
	linked   map[uint64]bool // file ids of scanned files that have more than one name
}

// take scans the local path p and puts what it found in place of what the state
// held under it.
func (lb *localBatch) take(p string) {
	e := lb.e
	sc, err := e.disk.scan(p)
	if err != nil {
		e.log.Warn("cannot scan local path", "path", p, "err", err)
		return
	}
	pk := p
	if cp, err := pathrule.Clean(p); err == nil {
		pk = pathrule.FoldKey(cp)
	}
	lb.prefixes = append(lb.prefixes, pk)
	for id := range sc.linked {
		lb.linked[id] = true
	}
	var losers []string
	e.mu.Lock()
	for k, old := range e.local {
		if pathrule.Within(k, pk) {
			lb.touched[k] = true
			if pathrule.Within(old.Path, p) {
				delete(e.local, k)
			}
			// else: another local name with the same key (case or Unicode form)
			// holds it; it stays unless it is gone.
		}
	}
	for k := range e.others {
		if pathrule.Within(k, pk) {
			delete(e.others, k)
		}
	}
	for k, v := range sc.entries {
		if old, ok := e.local[k]; ok && old.Path != v.Path {
			if ok, _ := e.disk.listed(old.Path); ok {
				if ok, _ := e.disk.listed(v.Path); ok {
					losers = append(losers, v.Path+"\x00"+old.Path)
				}
				// else: old's name, found by another spelling (a case-insensitive
				// file system), not a second name.
				continue
			}
		}
		e.local[k] = v
		lb.touched[k] = true
	}
	for k, v := range sc.others {
		e.others[k] = v
	}
	e.dirty = true
	e.mu.Unlock()
	for _, l := range losers {
		two := strings.SplitN(l, "\x00", 2)
		e.disk.reportOnce(two[0], "name differs only in case or Unicode form from "+two[1]+", kept but not synced", nil)
	}
}

// twinsOf returns the local paths of the files the state knows under file ids of
// linked (other names of files a scan found with several), leaving out the keys
// already scanned (touched). The caller holds e.mu.
func (e *book) twinsOf(linked map[uint64]bool, touched map[string]bool) []string {
	var out []string
	for k, l := range e.local {
		if !l.Dir && l.Ino != 0 && linked[l.Ino] && !touched[k] {
			out = append(out, l.Path)
		}
	}
	return out
}
