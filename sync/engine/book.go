package engine

import (
	"log/slog"
	"strings"
	"sync"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// book is what the engine knows of the three sides of every path (the local
// observation, the base, the server's entry), its position in the server's change log,
// and what is left to do. Every field is guarded by mu; the methods below expect the
// caller to hold it. The Engine embeds one book; its collaborators (the run loop, the
// transfers, the local file-system side) reach it through the Engine.
type book struct {
	mu       sync.Mutex // guards everything below
	log      *slog.Logger
	clientID string
	epoch    string
	seq      int64
	ownSeqs  map[int64]bool
	pending  map[int64]protocol.Event // out-of-order events waiting for a gap
	remoteM  map[string]protocol.Metadata
	base     map[string]baseEntry
	local    map[string]localEntry
	others   map[string]string // keys held by symlinks or special files
	refused  map[string]string // key → hash (or "dir") the server refused; reported once
	reported map[string]bool   // paths already reported as unsyncable
	// noCollapse holds directories whose recursive delete the server answered 404
	// while listing them (above a path-scoped token's paths): their entries are
	// deleted one by one (collapseDeletes).
	noCollapse map[string]bool
	ig         *ignorer
	igHash     string
	dirty      bool // state changed since the last save
	// batchTouched and batchMoves collect what applied server events changed, for
	// the next remote pass.
	batchTouched map[string]bool
	batchMoves   []pendingMove
	haveList     bool // remoteM holds a full snapshot
	needFull     bool // a full reconcile is due (resync, epoch change, failure)
	retry        map[string]bool
	// conflicted: key → the server path of its last 409 (xfer.conflictFirst).
	conflicted map[string]string
	// hold: server deletes of local deletions waiting for them to settle
	// (delhold.go).
	hold delHold

	// shortNames: the folder's file system may open a name through an 8.3 short
	// name (Windows), so names that may stand for the client's own are refused
	// (shortname.go).
	shortNames bool
}

// newBook returns an empty book (no base, no server entries) logging to log.
func newBook(log *slog.Logger) book {
	return book{
		log:        log,
		ownSeqs:    map[int64]bool{},
		pending:    map[int64]protocol.Event{},
		remoteM:    map[string]protocol.Metadata{},
		base:       map[string]baseEntry{},
		local:      map[string]localEntry{},
		others:     map[string]string{},
		refused:    map[string]string{},
		reported:   map[string]bool{},
		noCollapse: map[string]bool{},
		ig:         newIgnorer(nil),

		batchTouched: map[string]bool{},
		retry:        map[string]bool{},
	}
}

// recordBase sets the base of a key to its remote side (both sides agree). Caller
// holds e.mu.
func (e *book) recordBase(a *action) {
	e.dirty = true
	if !a.rOK {
		delete(e.base, a.key)
		return
	}
	lpath := ""
	if a.l != nil {
		lpath = a.l.Path
	}
	e.base[a.key] = syncedBase(a.r.Path, lpath, a.r.IsDirectory, a.r.Hash)
}

// noteOwnSeq records a seq made by this client (learned from an HTTP answer).
// Caller holds e.mu.
func (e *book) noteOwnSeq(seq int64) {
	if seq > e.seq {
		e.ownSeqs[seq] = true
		e.advance()
	}
}

// setRemote stores an entry learned from the server unless a newer one is known.
// Caller holds e.mu.
func (e *book) setRemote(m protocol.Metadata) {
	k := pathrule.FoldKey(m.Path)
	if cur, ok := e.remoteM[k]; ok && cur.Seq > m.Seq && m.Seq != 0 {
		return
	}
	e.remoteM[k] = m
}

// vouchDir records that the server holds directory dir (key k) at seq, and reports
// whether it was unknown (or not a directory) before. An entry known from an older seq
// is moved to seq: a Delete older than seq, applied later from the changes feed, must
// not remove it (the server re-creates missing parents without an event of their
// own). Caller holds e.mu.
func (e *book) vouchDir(k, dir string, seq int64) (added bool) {
	cur, ok := e.remoteM[k]
	switch {
	case !ok || !cur.IsDirectory:
		e.remoteM[k] = protocol.Metadata{Path: dir, IsDirectory: true, Seq: seq}
		return true
	case cur.Seq < seq:
		cur.Seq = seq
		e.remoteM[k] = cur
	}
	return false
}

// ensureParents records the parent directories of p as present on both sides (the
// server creates missing parents on upload; downloads create them locally). Caller
// holds e.mu.
func (e *book) ensureParents(p string, seq int64) {
	segs := strings.Split(p, "/")
	local := ""
	for i := 1; i < len(segs); i++ {
		dir := strings.Join(segs[:i], "/")
		k := pathrule.FoldKey(dir)
		e.vouchDir(k, dir, seq)
		if l, ok := e.local[k]; ok && l.Dir {
			local = l.Path
		} else {
			if local == "" {
				local = segs[i-1]
			} else {
				local += "/" + segs[i-1]
			}
			e.local[k] = localEntry{Path: local, Dir: true}
		}
		if _, ok := e.base[k]; !ok {
			e.base[k] = syncedBase(dir, local, true, "")
		}
	}
	e.dirty = true
}

// serverPathFor returns the server spelling of the clean path p: under the server's
// spelling of its nearest known parent directory. Caller holds e.mu.
func (e *book) serverPathFor(p string) string {
	dir := pathrule.Parent(p)
	if dir == "" {
		return p
	}
	if r, ok := e.remoteM[pathrule.FoldKey(dir)]; ok && r.IsDirectory {
		return r.Path + "/" + pathrule.Base(p)
	}
	return e.serverPathFor(dir) + "/" + pathrule.Base(p)
}

// localPathFor returns where the server path p lives (or would live) on disk: under
// the local spelling of its nearest known parent directory (a local "docs" holds the
// server's "Docs/x"; an NFD-named local directory holds its NFC server twin). Caller
// holds e.mu.
func (e *book) localPathFor(p string) string {
	dir := pathrule.Parent(p)
	if dir == "" {
		return p
	}
	if l, ok := e.local[pathrule.FoldKey(dir)]; ok && l.Dir {
		return l.Path + "/" + pathrule.Base(p)
	}
	return e.localPathFor(dir) + "/" + pathrule.Base(p)
}

// removeSubtree deletes key k and every key under it from m.
func removeSubtree[V any](m map[string]V, k string) {
	delete(m, k)
	for mk := range m {
		if pathrule.Within(mk, k) {
			delete(m, mk)
		}
	}
}

// repathSubtree rewrites the paths of the entries under key k (k itself excluded)
// from the spelling from to the spelling to, keys unchanged: what a case-only rename
// of the directory k does to its subtree. path gives an entry's path field.
func repathSubtree[V any](m map[string]V, k, from, to string, path func(*V) *string) {
	for mk, v := range m {
		if mk == k || !pathrule.Within(mk, k) {
			continue
		}
		if p := path(&v); pathrule.Within(*p, from) {
			*p = to + (*p)[len(from):]
			m[mk] = v
		}
	}
}

// moveLocal re-keys the local entries of the subtree at (oldKey, oldPath) to
// (newKey, newPath).
func moveLocal(m map[string]localEntry, oldKey, oldPath, newKey, newPath string) {
	if v, ok := m[oldKey]; ok && !v.Dir {
		// A file: nothing lies under it, no walk over the whole map (a move cost the
		// size of the folder).
		delete(m, oldKey)
		if pathrule.Within(v.Path, oldPath) {
			v.Path = newPath + v.Path[len(oldPath):]
		}
		m[newKey] = v
		return
	}
	moved := map[string]localEntry{}
	for k, v := range m {
		if !pathrule.Within(k, oldKey) {
			continue
		}
		delete(m, k)
		suffix := k[len(oldKey):]
		if pathrule.Within(v.Path, oldPath) {
			v.Path = newPath + v.Path[len(oldPath):]
		}
		moved[newKey+suffix] = v
	}
	for k, v := range moved {
		m[k] = v
	}
}

// moveBase moves the base entries at and under oldKey (server path oldPath) to newKey
// (server path newPath); the moved entry itself takes name, its local spelling. A
// file's entry moves alone, without a walk over the whole base.
func moveBase(m map[string]baseEntry, oldKey, oldPath, newKey, newPath, name string) {
	if v, ok := m[oldKey]; ok && !v.Dir {
		delete(m, oldKey)
		v.Path, v.Name = newPath, name
		m[newKey] = v
		return
	}
	moved := map[string]baseEntry{}
	for k, v := range m {
		if !pathrule.Within(k, oldKey) {
			continue
		}
		delete(m, k)
		if pathrule.Within(v.Path, oldPath) {
			v.Path = newPath + v.Path[len(oldPath):]
		}
		if k == oldKey {
			v.Name = name
		}
		moved[newKey+k[len(oldKey):]] = v
	}
	for k, v := range moved {
		m[k] = v
	}
}

func keySet[V any](m map[string]V) map[string]bool {
	s := make(map[string]bool, len(m))
	for k := range m {
		s[k] = true
	}
	return s
}
