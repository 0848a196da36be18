// Whole directories' names in memory: the check before an upload of a new file
// answers "no such entry" without an index query.

package tenants

import (
	"context"
	"hash/maphash"
	"strings"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// Bounds of a space's directory names (dirNames).
const (
	// dirNamesAfter is how many uploads of new files into one directory have to ask
	// the index before the directory's names are loaded.
	dirNamesAfter = 8
	// dirNamesMaxEntries: the names are loaded only while the space holds at most
	// this many entries (the load holds the commit section; at ~5 µs an entry it
	// stays under a few tenths of a second).
	dirNamesMaxEntries = 1 << 15
	// dirNamesMax bounds the hashes a space keeps (8 bytes each, some 20 in the
	// map): past it they are all dropped, and loaded again as uploads ask.
	dirNamesMax = 1 << 16
	// dirNamesTracked bounds the directories whose misses are counted.
	dirNamesTracked = 64
)

// dirNames knows, for a few directories of a space (complete), a superset of their
// children: the hash of the fold key of every entry that is, or was since the load,
// a child of one of them (names). A name whose hash is absent is not a child: the
// check before an upload (lookupManyCached) then needs no index query for a new file
// in such a directory. A present hash proves nothing (a name removed since, a hash
// shared by two names): the index is asked as before.
//
// It lives under metaCache.mu and follows the cache's rule from the other side:
// every write adds the names it creates before it changes the index (cachedTx), so
// a reader that does not find a name reads a state from before the write that
// creates it; a move drops the directories it fills with a whole subtree (and those
// under them), a removal those it empties. A directory's names are loaded holding the
// space's commit section (Space.mu), with no write in progress.
type dirNames struct {
	seed     maphash.Seed
	complete map[string]struct{} // fold keys of the directories known whole
	names    map[uint64]struct{}
	misses   map[string]int // fold key of a directory: uploads of new files that asked the index
}

// entryCount is the space's committed entries.
func (s *committer) entryCount() int64 {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.entries
}

// nameHash is the hash of the fold key k.
func (d *dirNames) nameHash(k string) uint64 { return maphash.String(d.seed, k) }

// absent reports whether the entry of fold key k, a child of the directory of fold
// key dir, is known not to exist.
func (c *metaCache) absent(dir, k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.dirs
	if _, ok := d.complete[dir]; !ok {
		return false
	}
	_, ok := d.names[d.nameHash(k)]
	return !ok
}

// added records that a write is about to create (or rename to) the entry at path p.
func (c *metaCache) added(p string) {
	c.mu.Lock()
	none := c.dirs.complete == nil
	c.mu.Unlock()
	if none { // the common case: no fold key to compute
		return
	}
	k := pathrule.FoldKey(p)
	dir := pathrule.Parent(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.dirs
	if _, ok := d.complete[dir]; !ok {
		return
	}
	if len(d.names) >= dirNamesMax {
		d.complete, d.names = nil, nil
		return
	}
	d.names[d.nameHash(k)] = struct{}{}
}

// dropDirs forgets that the directory of fold key k and those under it are whole
// ("" = every directory); the caller holds c.mu.
func (c *metaCache) dropDirs(k string) {
	d := &c.dirs
	if k == "" {
		d.complete, d.names = nil, nil
		return
	}
	under := k + "/"
	for dir := range d.complete {
		if dir == k || strings.HasPrefix(dir, under) {
			delete(d.complete, dir)
		}
	}
	if len(d.complete) == 0 {
		d.complete, d.names = nil, nil
	}
}

// missed counts an upload of a new file into the directory of fold key dir that
// asked the index, and reports whether the directory's names should be loaded now.
func (c *metaCache) missed(dir string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.dirs
	if _, ok := d.complete[dir]; ok {
		return false
	}
	if d.misses == nil || len(d.misses) >= dirNamesTracked {
		d.misses = make(map[string]int)
	}
	d.misses[dir]++
	if d.misses[dir] < dirNamesAfter {
		return false
	}
	delete(d.misses, dir) // counted again from 0 if the load fails or is dropped
	return true
}

// loadDirNames loads the names of the children of the directory dir (its path as
// indexed), holding the commit section so that no write is in progress: the index
// then holds every committed child and no other, and the writes after it add theirs.
// Nothing is loaded when the space holds too many entries for the section to be held
// that long, or when dir is no longer a directory of exactly that spelling; an error
// leaves the directory unknown.
func (s *committer) loadDirNames(ctx context.Context, dir string) {
	if s.entryCount() > dirNamesMaxEntries { // checked first: no wait for the section
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.isClosed() || s.entryCount() > dirNamesMaxEntries {
		return
	}
	// dir was read before the section: a case-only rename since has left the
	// children under another spelling, which Children (exact parent) would not list.
	if dir != "" {
		if e, err := s.reg.index.Lookup(ctx, s.id, dir); err != nil || e == nil || !e.IsDir || e.Path != dir {
			return
		}
	}
	kids, err := s.reg.index.Children(ctx, s.id, dir)
	if err != nil {
		return
	}
	c := &s.meta
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.dirs
	if len(d.names)+len(kids) > dirNamesMax {
		return
	}
	if d.complete == nil { // complete and names are both nil or both made
		d.complete, d.names = make(map[string]struct{}), make(map[uint64]struct{}, len(kids))
		d.seed = maphash.MakeSeed()
	}
	for _, e := range kids {
		d.names[d.nameHash(pathrule.FoldKey(e.Path))] = struct{}{}
	}
	d.complete[pathrule.FoldKey(dir)] = struct{}{}
}
