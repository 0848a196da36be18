// The in-memory cache of a space's index entries: hot metadata for reads without an
// index query.

package tenants

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// metaCacheMax bounds the entries one space keeps in memory (about 200 bytes each:
// some 200 KiB per space at most, so that thousands of open spaces stay cheap).
const metaCacheMax = 1024

// metaCache maps fold keys to the space's committed index entries (nil: no entry). It
// is a seqlock against the write transactions: begin and end bracket every index
// write of the space (each bumps gen; writing counts those in progress), the write
// forgets each path it touches before it changes it, and a read fills an entry only
// if no write began between the moment it read gen and the moment it stores, so an
// entry is never older than the committed index. While a write is in progress the
// cache is not filled, but it is read: what the write has not forgotten (yet) it has
// not changed, and what it has forgotten stays out until a read that began after its
// end fills it again. Only for spaces whose index no other process writes
// (Registry.inProcess).
type metaCache struct {
	mu      sync.Mutex
	gen     uint64
	writing int
	m       map[string]*entry
	dirs    dirNames // names of whole directories (dirnames.go)
}

// get returns the cached entry of fold key k and whether there is one. gen is what
// fill needs after a miss.
func (c *metaCache) get(k string) (e *entry, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok = c.m[k]
	return e, ok, c.gen
}

// fill stores e (read from the index after get returned gen) under k unless a write
// began since.
func (c *metaCache) fill(k string, e *entry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.writing > 0 {
		return
	}
	if c.m == nil {
		c.m = make(map[string]*entry)
	}
	if len(c.m) >= metaCacheMax {
		for old := range c.m { // map order is random: drops arbitrary entries
			if len(c.m) < metaCacheMax*7/8 {
				break
			}
			delete(c.m, old)
		}
	}
	c.m[k] = e
}

// generation returns gen. Read holding the space's commit section (Space.mu, which
// every write holds from its first disk change to its end), two equal generations
// mean that no write of the space began in between: index and disk are as they were.
func (c *metaCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// begin marks a write in progress; end (always called after begin) ends it.
func (c *metaCache) begin() {
	c.mu.Lock()
	c.gen++
	c.writing++
	c.mu.Unlock()
}

func (c *metaCache) end() {
	c.mu.Lock()
	c.gen++
	c.writing--
	c.mu.Unlock()
}

// forget drops the entry of path p.
func (c *metaCache) forget(p string) {
	k := pathrule.FoldKey(p)
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// forgetTree drops the entries of p and everything under it ("" = everything), and
// the names of the directories among them (dirNames).
func (c *metaCache) forgetTree(p string) {
	if p == "" {
		c.mu.Lock()
		clear(c.m)
		c.dropDirs("")
		c.mu.Unlock()
		return
	}
	k := pathrule.FoldKey(p)
	under := k + "/"
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropDirs(k)
	delete(c.m, k)
	for key := range c.m {
		if strings.HasPrefix(key, under) {
			delete(c.m, key)
		}
	}
}

// split answers paths from the cache: found holds copies of the entries it has (a
// path it knows absent is left out), miss the paths it does not hold, in order, and
// gen the cache's generation when the first miss was read (a write begun since then
// refuses fills made from an index read).
func (c *metaCache) split(paths []string) (found map[string]*entry, miss []string, gen uint64) {
	found = make(map[string]*entry, len(paths))
	for _, p := range paths {
		k := pathrule.FoldKey(p)
		e, ok, g := c.get(k)
		if len(miss) == 0 {
			gen = g // the earliest gen: a write begun since any of these reads refuses the fills
		}
		if ok {
			if e != nil {
				found[k] = cloneEntry(e)
			}
			continue
		}
		miss = append(miss, p)
	}
	return found, miss, gen
}

// lookupManyCached is lookupMany (the check before an upload's body) answered from
// the metadata cache for the paths it holds, on a single node; the index is asked
// only for the others, and the ancestors it returns fill the cache (the last path,
// usually a new file's, does not: it would only crowd the cache out). A last path
// that a directory's known names (dirNames) show absent needs no query; a directory
// that keeps getting new files has its names loaded (loadDirNames).
func (s *committer) lookupManyCached(ctx context.Context, paths []string) (map[string]*entry, error) {
	if !s.reg.inProcess {
		return s.lookupMany(ctx, paths)
	}
	found, miss, gen := s.meta.split(paths)
	if len(miss) == 0 {
		return found, nil
	}
	last := paths[len(paths)-1]
	lastKey := pathrule.FoldKey(last)
	// A new file in a directory whose names are known: no query at all.
	_, dirKey, isDir := parentDir(paths, found)
	if len(miss) == 1 && miss[0] == last && isDir && s.meta.absent(dirKey, lastKey) {
		return found, nil
	}
	got, err := s.reg.index.LookupMany(ctx, s.id, miss)
	if err != nil {
		return nil, internal("read index", err)
	}
	for _, p := range miss {
		k := pathrule.FoldKey(p)
		e := got[k]
		if e != nil {
			found[k] = e
		}
		if p != last {
			s.meta.fill(k, cloneEntry(e), gen)
		}
	}
	if miss[len(miss)-1] == last && got[lastKey] == nil { // a new file: count it for its directory
		if dir, dirKey, isDir := parentDir(paths, found); isDir && s.meta.missed(dirKey) {
			s.loadDirNames(ctx, dir)
		}
	}
	return found, nil
}

// lookupInSection is the batch's read of the committed index (batch.lookup) for rest,
// paths the batch has not written, inside the commit section. On a single node the
// cache answers the paths it holds: its entries are never older than the committed
// index, and nothing else writes the index while the section is held. The last of all
// (an upload's ancestors, then its target), when it alone is left and the names of
// its directory (seen, or answered here) are known to lack it, needs no query either.
// Nothing is filled: the batch is a write in progress.
func (s *committer) lookupInSection(ctx context.Context, rest, all []string, seen map[string]*entry) (map[string]*entry, error) {
	if !s.reg.inProcess {
		return s.lookupMany(ctx, rest)
	}
	found, miss, _ := s.meta.split(rest)
	if len(miss) == 0 {
		return found, nil
	}
	if last := all[len(all)-1]; len(miss) == 1 && miss[0] == last {
		if _, dirKey, isDir := parentDir(all, found, seen); isDir && s.meta.absent(dirKey, pathrule.FoldKey(last)) {
			return found, nil
		}
	}
	got, err := s.lookupMany(ctx, miss)
	if err != nil {
		return nil, err
	}
	maps.Copy(found, got)
	return found, nil
}

// parentDir returns the path (as indexed) and fold key of the parent of the last of
// paths (an upload's ancestors, then its target) and whether the first of in that
// holds the parent shows it as a directory (the root always is).
func parentDir(paths []string, in ...map[string]*entry) (dir, key string, ok bool) {
	if len(paths) < 2 {
		return "", "", true
	}
	key = pathrule.FoldKey(paths[len(paths)-2])
	for _, m := range in {
		if e := m[key]; e != nil {
			if !e.IsDir {
				break
			}
			return e.Path, key, true
		}
	}
	return "", "", false
}

// cloneEntry returns a copy of e (nil for nil): cached entries are never shared with
// callers, who may change what they get.
func cloneEntry(e *entry) *entry {
	if e == nil {
		return nil
	}
	cp := *e
	return &cp
}

// cachedTx is an index transaction that makes the space's metaCache forget every
// path it is about to change, and learn every name it is about to create
// (dirNames), before it changes it.
type cachedTx struct {
	index.Tx
	c *metaCache
}

func (t cachedTx) PutEntry(m protocol.Metadata) error {
	t.c.forget(m.Path)
	t.c.added(m.Path)
	return t.Tx.PutEntry(m)
}

func (t cachedTx) RemoveTree(p string) (int64, int64, error) {
	t.c.forgetTree(p)
	return t.Tx.RemoveTree(p)
}

func (t cachedTx) MoveTree(from, to string, seq int64) error {
	t.c.forgetTree(from)
	t.c.forgetTree(to)
	t.c.added(to)
	return t.Tx.MoveTree(from, to, seq)
}

// ReleaseReservations passes index.ReleaseTx through to the index's transaction (the
// commit releases the batch's shared quota reservations in it).
func (t cachedTx) ReleaseReservations(ids []string) error {
	rt, ok := t.Tx.(index.ReleaseTx)
	if !ok {
		return errors.New("tenants: the index's transaction cannot release quota reservations")
	}
	return rt.ReleaseReservations(ids)
}
