package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// opKind is one step of a plan.
type opKind uint8

const (
	opRecord       opKind = iota // set the base to the remote side (both agree)
	opDeleteRemote               // delete on the server (file with If-Match, dir with if_seq)
	opDeleteLocal                // delete locally after re-checking the content
	opMkdirRemote
	opMkdirLocal // aside: move a conflicting local file away first
	opUpload
	opDownload   // aside: move the local version away first (conflict)
	opMoveRemote // a local rename: move on the server (from = from, path = to)
	opMoveLocal  // a case-only rename on the server: rename the local name in place
)

var opNames = [...]string{"record", "delete-remote", "delete-local", "mkdir-remote", "mkdir-local", "upload", "download", "move-remote", "move-local"}

func (o opKind) String() string { return opNames[o] }

// action is one planned step on one key.
type action struct {
	op    opKind
	key   string
	path  string // server path (NFC)
	lpath string // local path on disk ("" = same as path)
	l     *localEntry
	b     side
	r     protocol.Metadata
	rOK   bool
	aside bool // conflict: move the local version to a conflict name first
	// recursive marks a remote directory delete that covers its whole subtree.
	recursive bool
	covered   bool // a child of a recursive remote delete (or a move's source): nothing to do
	// from is the source of opMoveRemote (its key fromKey, its remote hash fromHash).
	from, fromKey, fromHash string
}

// plan is what one pass will do.
type plan struct {
	acts            []*action
	localDeletes    int // files deleted locally
	remoteDeletes   int // files deleted on the server
	transfers       int
	transferBytes   int64
	filesConsidered int
	// recheck holds keys left undecided: their local file was not hashed (its upload
	// was to hash it: deferHash) but the server moved on meanwhile. The next pass of
	// the key hashes it.
	recheck []string
}

// localSide, baseSide and remoteSide turn the maps' entries into sides.
func localSide(l *localEntry) side {
	switch {
	case l == nil:
		return side{}
	case l.Dir:
		return side{k: kDir}
	}
	return side{k: kFile, hash: l.Hash}
}

func baseSide(b baseEntry, ok bool) side {
	switch {
	case !ok:
		return side{}
	case b.Dir:
		return side{k: kDir}
	}
	return side{k: kFile, hash: b.Hash}
}

func remoteSide(m protocol.Metadata, ok bool) side {
	switch {
	case !ok:
		return side{}
	case m.IsDirectory:
		return side{k: kDir}
	}
	return side{k: kFile, hash: m.Hash}
}

// makePlan decides every key in keys, in three stages: the three-way decision of each
// path (decidePaths), local renames paired into server moves (pairRenames), and remote
// directory deletes collapsed into recursive ones (collapseDeletes). The caller holds
// e.mu.
func (e *book) makePlan(keys map[string]bool) *plan {
	pl := e.decidePaths(keys)
	pairRenames(pl)
	collapseDeletes(pl, e.remoteM, e.noCollapse)
	return pl
}

// keyView is one key as the first stage sees it: its three sides and its paths.
type keyView struct {
	key   string
	path  string // server path (NFC)
	lpath string // local path on disk
	l     *localEntry
	b     baseEntry
	bOK   bool
	r     protocol.Metadata
	rOK   bool
}

// decidePaths is the plan's first stage: each key (in sorted order) decided on its
// own by the three-way rule (decide, conflict.go) and turned into actions. Keys held
// by symlinks or special files or under them, ignored paths and keys known on no side
// are skipped.
// The caller holds e.mu.
func (e *book) decidePaths(keys map[string]bool) *plan {
	pl := &plan{}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var scratch localEntry // v.l of the key being decided: no allocation per key
	for _, k := range sorted {
		if e.underOther(k) {
			continue
		}
		if v, ok := e.viewOf(k, &scratch); ok {
			if v.l != nil && v.l.unhashed() && !plainUpload(v) {
				pl.recheck = append(pl.recheck, k)
				continue
			}
			pl.decideKey(v, e.isRefused)
		}
	}
	return pl
}

// underOther reports whether the key k, or a directory above it, is held here by a
// symlink or special file (e.others): nothing at or under a symlink is decided, so no
// download or directory is written through it (into whatever it points to) and
// nothing the server holds under its name is taken for deleted here. The caller holds
// e.mu.
func (e *book) underOther(k string) bool {
	if len(e.others) == 0 {
		return false
	}
	for p := k; p != ""; p = pathParent(p) {
		if _, ok := e.others[p]; ok {
			return true
		}
	}
	return false
}

// viewOf gathers the sides and paths of key k; ok is false when the key is known on
// no side, its local name breaks the path rules, or its path is ignored. The caller
// holds e.mu. The local side, if any, is copied into *scratch (v.l points to it).
func (e *book) viewOf(k string, scratch *localEntry) (v keyView, ok bool) {
	v.key = k
	if l, ok := e.local[k]; ok {
		*scratch = l
		v.l = scratch
	}
	v.b, v.bOK = e.base[k]
	v.r, v.rOK = e.remoteM[k]
	switch {
	case v.rOK:
		v.path = v.r.Path
	case v.bOK:
		v.path = v.b.Path
	case v.l != nil:
		cp, err := pathrule.Clean(v.l.Path)
		if err != nil {
			return v, false
		}
		v.path = e.serverPathFor(cp)
	default:
		return v, false
	}
	if v.l != nil {
		v.lpath = v.l.Path
	} else {
		v.lpath = e.localPathFor(v.path)
	}
	isDir := (v.l != nil && v.l.Dir) || (v.rOK && v.r.IsDirectory) || (v.bOK && v.b.Dir)
	if e.ig.Ignored(v.path, isDir) || (v.lpath != v.path && e.ig.Ignored(v.lpath, isDir)) {
		return v, false
	}
	return v, true
}

// decideKey adds the actions for one key. refused reports (once asked, for a local
// change only) whether the server refused this local content before. v.l may be
// reused for the next key: the actions hold a copy of it, made once for the key.
func (pl *plan) decideKey(v keyView, refused func(k string, ls side) bool) {
	ls, bs, rs := localSide(v.l), baseSide(v.b, v.bOK), remoteSide(v.r, v.rOK)
	if ls.k == kFile || bs.k == kFile || rs.k == kFile {
		pl.filesConsidered++
	}
	var l *localEntry
	mk := func(op opKind) *action {
		if l == nil && v.l != nil {
			lc := *v.l
			l = &lc
		}
		a := &action{op: op, key: v.key, path: v.path, lpath: v.lpath, l: l, b: bs, r: v.r, rOK: v.rOK}
		pl.acts = append(pl.acts, a)
		return a
	}
	switch decide(ls, bs, rs) {
	case decNone:
		pl.followCase(v, mk)
	case decRecord:
		mk(opRecord)
	case decPush:
		if !refused(v.key, ls) {
			pl.push(v, ls, rs, mk)
		}
	case decPull:
		pl.pull(v, ls, rs, mk)
	case decConflict:
		if rs.k == kDir {
			mk(opMkdirLocal).aside = true
		} else {
			mk(opDownload).aside = true
			pl.transfers++
			pl.transferBytes += v.r.Size
		}
	}
}

// followCase adds the actions for a key whose sides agree on what it holds but not
// necessarily on how its name is spelled (case and Unicode form fold to one key): a
// last segment renamed here is moved on the server; one renamed on the server is
// renamed here in place; a parent spelled otherwise on the server is recorded. A name
// that differed between this disk and the server when they last agreed (base Name) is
// not a rename.
func (pl *plan) followCase(v keyView, mk func(opKind) *action) {
	if !v.bOK || !v.rOK {
		return
	}
	synced, server := v.b.name(), pathrule.Base(v.r.Path)
	local := synced
	if v.l != nil {
		local = localName(server, v.l.Path)
		if local == "" {
			local = server
		}
	}
	switch {
	case local != synced && local != server:
		a := mk(opMoveRemote)
		a.from, a.fromKey, a.fromHash = v.r.Path, v.key, v.r.Hash
		a.path = local
		if dir := pathrule.Parent(v.r.Path); dir != "" {
			a.path = dir + "/" + local
		}
	case local != synced:
		mk(opRecord) // renamed here to the server's spelling
	case pathrule.Base(v.b.Path) != server && local != server && v.l != nil:
		mk(opMoveLocal)
	case v.b.Path != v.r.Path:
		mk(opRecord) // follow the server's spelling
	}
}

// push adds the actions that carry a local change to the server.
func (pl *plan) push(v keyView, ls, rs side, mk func(opKind) *action) {
	if rs.k != kNone && rs.k != ls.k {
		mk(opDeleteRemote)
		if rs.k == kFile {
			pl.remoteDeletes++
		}
	}
	switch ls.k {
	case kNone:
	case kDir:
		mk(opMkdirRemote)
	default:
		mk(opUpload)
		pl.transfers++
		pl.transferBytes += v.l.Size
	}
}

// pull adds the actions that carry a server change to the local folder.
func (pl *plan) pull(v keyView, ls, rs side, mk func(opKind) *action) {
	if ls.k != kNone && ls.k != rs.k {
		mk(opDeleteLocal)
		if ls.k == kFile {
			pl.localDeletes++
		}
	}
	switch rs.k {
	case kNone:
	case kDir:
		mk(opMkdirLocal)
	default:
		mk(opDownload)
		pl.transfers++
		pl.transferBytes += v.r.Size
	}
}

// pairRenames is the plan's second stage. A local rename shows as a deleted file and
// a new file with the same content: each new file is paired with one such delete (in
// key order) into one server move, so there is no upload and other clients rename
// instead of downloading again. The paired delete is marked covered.
func pairRenames(pl *plan) {
	byHash := map[string][]*action{}
	for _, a := range pl.acts {
		if a.op == opDeleteRemote && a.l == nil && a.rOK && !a.r.IsDirectory && !a.covered {
			byHash[a.r.Hash] = append(byHash[a.r.Hash], a)
		}
	}
	if len(byHash) == 0 {
		return
	}
	for _, a := range pl.acts {
		if a.op != opUpload || a.rOK || a.l == nil {
			continue
		}
		cands := byHash[a.l.Hash]
		if len(cands) == 0 {
			continue
		}
		d := cands[0]
		byHash[a.l.Hash] = cands[1:]
		d.covered = true
		pl.remoteDeletes--
		pl.transfers--
		pl.transferBytes -= a.l.Size
		a.op = opMoveRemote
		a.from, a.fromKey, a.fromHash = d.path, d.key, d.r.Hash
	}
}

// collapseDeletes is the plan's third stage: a remote directory whose whole remote
// subtree (every key of remote under it) is being deleted by this plan goes in one
// recursive delete guarded by if_seq, and the deletes under it are marked covered. A
// single entry under it that the plan keeps (ignored, refused, changed), or the
// directory in keep (the server refused its recursive delete), keeps the deletes one
// by one.
//
// It walks each key's ancestors, never the listing once per directory: 2000 deleted
// directories in a folder of 100k files took 45 s that way.
func collapseDeletes(pl *plan, remote map[string]protocol.Metadata, keep map[string]bool) {
	dels := map[string]*action{}
	for _, a := range pl.acts {
		if a.op == opDeleteRemote && !a.covered {
			dels[a.key] = a
		}
	}
	// stays: the directories with some remote key under them that is not deleted.
	stays := map[string]bool{}
	for rk := range remote {
		if _, ok := dels[rk]; ok {
			continue
		}
		for q := rk; q != ""; {
			q = pathParent(q)
			if stays[q] {
				break
			}
			stays[q] = true
		}
	}
	whole := map[string]bool{} // directories deleted with all they hold
	for k, a := range dels {
		if a.r.IsDirectory && !keep[k] && !stays[k] {
			whole[k] = true
		}
	}
	for k, a := range dels {
		for q := k; q != ""; {
			q = pathParent(q)
			if whole[q] {
				a.covered = true // under a directory deleted whole
				break
			}
		}
		if !a.covered && whole[k] {
			a.recursive = true
		}
	}
}

// isRefused reports whether the server refused this key's current local content
// before (reported once; retried only when the content changes).
func (e *book) isRefused(k string, ls side) bool {
	h, ok := e.refused[k]
	if !ok {
		return false
	}
	cur := ls.hash
	if ls.k == kDir {
		cur = "dir"
	}
	if h == cur {
		return true
	}
	delete(e.refused, k)
	return false
}

// guard applies the mass-delete rule to a plan: more than half of the files and over
// 100 deleted on either side stops the pass.
func (e *Engine) guard(pl *plan) error {
	if e.opts.AllowMassDelete {
		return nil
	}
	total := 0
	for _, b := range e.base {
		if !b.Dir {
			total++
		}
	}
	if pl.filesConsidered > total {
		total = pl.filesConsidered
	}
	check := func(n int, where string) error {
		if n > 100 && n*2 > total {
			return fmt.Errorf("%w: this pass would delete %d of %d files %s; rerun with --allow-mass-delete if that is intended", ErrMassDelete, n, total, where)
		}
		return nil
	}
	if err := check(pl.localDeletes, "in the local folder"); err != nil {
		return err
	}
	return check(pl.remoteDeletes, "on the server")
}

// sortActs orders a plan for execution: records, then moves, then deletes deepest first, then
// directory creations shallowest first, then transfers.
func sortActs(acts []*action) (records, moves, deletes, mkdirs, transfers []*action) {
	for _, a := range acts {
		switch a.op {
		case opRecord:
			records = append(records, a)
		case opMoveRemote, opMoveLocal:
			moves = append(moves, a)
		case opDeleteLocal, opDeleteRemote:
			if !a.covered {
				deletes = append(deletes, a)
			}
		case opMkdirLocal, opMkdirRemote:
			mkdirs = append(mkdirs, a)
		default:
			transfers = append(transfers, a)
		}
	}
	sort.SliceStable(deletes, func(i, j int) bool { return depthLess(deletes[j].path, deletes[i].path) })
	sort.SliceStable(mkdirs, func(i, j int) bool { return depthLess(mkdirs[i].path, mkdirs[j].path) })
	return
}

// depthLess orders shallower paths first, then by name.
func depthLess(a, b string) bool {
	da, db := strings.Count(a, "/"), strings.Count(b, "/")
	if da != db {
		return da < db
	}
	return a < b
}
