package engine

import (
	"context"
	"strings"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// localPass syncs the local paths a watcher batch reported. A file with other names
// (hard links) in DIR changes under those names too, of which the watcher says
// nothing: the other names the state knows for it are scanned as well.
//
// Besides the scans, a batch costs one walk over the state's keys whatever the number
// of paths: a key is matched against the scanned paths by looking up its ancestors (a
// batch of 1000 new files in a folder of 100k took 30 s when every path walked every
// key).
func (e *Engine) localPass(ctx context.Context, paths []string) (passResult, error) {
	if err := e.checkRoot(); err != nil {
		return passResult{}, err
	}
	for _, p := range paths {
		if p == IgnoreFileName && e.disk.loadIgnore() {
			return e.localFull(ctx)
		}
	}
	lb := &localBatch{e: e, touched: map[string]bool{}, linked: map[uint64]bool{}, scanned: map[string]string{}}
	lb.take(collapse(paths))
	if len(lb.linked) > 0 {
		e.mu.Lock()
		twins := e.twinsOf(lb.linked, lb.touched)
		e.mu.Unlock()
		lb.take(twins)
	}
	e.mu.Lock()
	for k := range e.base {
		if _, ok := underOne(lb.scanned, k); ok {
			lb.touched[k] = true
		}
	}
	for k := range e.remoteM {
		if _, ok := underOne(lb.scanned, k); ok {
			lb.touched[k] = true
		}
	}
	e.mu.Unlock()
	return e.runPlan(ctx, lb.touched, false)
}

// localBatch gathers what the scans of one watcher batch found (localPass).
type localBatch struct {
	e       *Engine
	touched map[string]bool   // keys to decide
	scanned map[string]string // the key of each scanned path → the path
	linked  map[uint64]bool   // file ids of scanned files that have more than one name
}

// underOne returns the path of set (key → path) whose key the key k equals or lies
// under.
func underOne(set map[string]string, k string) (string, bool) {
	for q := k; ; q = pathParent(q) {
		if p, ok := set[q]; ok {
			return p, true
		}
		if q == "" {
			return "", false
		}
	}
}

// take scans the local paths (none under another, nor under a path taken before)
// and puts what the scans found in place of what the state held under them.
func (lb *localBatch) take(paths []string) {
	e := lb.e
	var scans []*scanOut
	set := map[string]string{}
	for _, p := range paths {
		sc, err := e.disk.scan(p)
		if err != nil {
			e.log.Warn("cannot scan local path", "path", p, "err", err)
			continue
		}
		pk := p
		if cp, err := pathrule.Clean(p); err == nil {
			pk = pathrule.FoldKey(cp)
		}
		set[pk], lb.scanned[pk] = p, p
		scans = append(scans, sc)
		for id := range sc.linked {
			lb.linked[id] = true
		}
	}
	if len(scans) == 0 {
		return
	}
	var losers []string
	e.mu.Lock()
	for k, old := range e.local {
		if p, ok := underOne(set, k); ok {
			lb.touched[k] = true
			if pathrule.Within(old.Path, p) {
				delete(e.local, k)
			}
			// else: another local name with the same key (case or Unicode form)
			// holds it; it stays unless it is gone.
		}
	}
	for k := range e.others {
		if _, ok := underOne(set, k); ok {
			delete(e.others, k)
		}
	}
	for _, sc := range scans {
		losers = append(losers, lb.merge(sc)...)
	}
	e.dirty = true
	e.mu.Unlock()
	for _, l := range losers {
		two := strings.SplitN(l, "\x00", 2)
		e.disk.reportOnce(two[0], "name differs only in case or Unicode form from "+two[1]+", kept but not synced", nil)
	}
}

// merge puts the entries of one scan into the state and returns the names that lost
// to another spelling of their key ("loser\x00winner"). The caller holds e.mu.
func (lb *localBatch) merge(sc *scanOut) (losers []string) {
	e := lb.e
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
	return losers
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
