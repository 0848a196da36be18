package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// kind is what a path holds on one side.
type kind uint8

const (
	kNone kind = iota
	kFile
	kDir
)

// side is one path on one side (local, base or remote), as the decision sees it.
type side struct {
	k    kind
	hash string
}

func (s side) equal(o side) bool { return s.k == o.k && (s.k != kFile || s.hash == o.hash) }

func (s side) String() string {
	switch s.k {
	case kFile:
		if len(s.hash) > 8 {
			return "file:" + s.hash[:8]
		}
		return "file:" + s.hash
	case kDir:
		return "dir"
	}
	return "none"
}

// decision is the outcome of the three-way comparison of one path.
type decision uint8

const (
	decNone     decision = iota // both sides equal the base
	decRecord                   // both changed the same way: record the new base
	decPush                     // only the local side changed (or modify beats delete)
	decPull                     // only the server changed (or modify beats delete)
	decConflict                 // both changed differently: local copy aside, server wins the name
)

func (d decision) String() string {
	return [...]string{"none", "record", "push", "pull", "conflict"}[d]
}

// decide is the three-way rule of SPEC §1. A missing base (first sync, epoch change)
// is kNone, which makes every rule a merge without deletes.
func decide(l, b, r side) decision {
	lc, rc := !l.equal(b), !r.equal(b)
	switch {
	case !lc && !rc:
		return decNone
	case lc && !rc:
		return decPush
	case !lc && rc:
		return decPull
	case l.equal(r):
		return decRecord
	case l.k == kNone: // deleted here, changed there: modify beats delete
		return decPull
	case r.k == kNone: // deleted there, changed here: modify beats delete
		return decPush
	default:
		return decConflict
	}
}

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
)

var opNames = [...]string{"record", "delete-remote", "delete-local", "mkdir-remote", "mkdir-local", "upload", "download", "move-remote"}

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
	// from is the source of opMoveRemote (its key fromKey, its remote entry fromR).
	from, fromKey string
	fromR         protocol.Metadata
}

// plan is what one pass will do.
type plan struct {
	acts            []*action
	localDeletes    int // files deleted locally
	remoteDeletes   int // files deleted on the server
	transfers       int
	transferBytes   int64
	filesConsidered int
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

// makePlan decides every key in keys. The caller holds e.mu.
func (e *Engine) makePlan(keys map[string]bool) *plan {
	pl := &plan{}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	pushDel := map[string]*action{}
	for _, k := range sorted {
		if _, ok := e.others[k]; ok {
			continue
		}
		var lp *localEntry
		if l, ok := e.local[k]; ok {
			lc := l
			lp = &lc
		}
		b, bOK := e.base[k]
		r, rOK := e.remoteM[k]
		path := ""
		switch {
		case rOK:
			path = r.Path
		case bOK:
			path = b.Path
		case lp != nil:
			cp, err := pathrule.Clean(lp.Path)
			if err != nil {
				continue
			}
			path = e.serverPathFor(cp)
		default:
			continue
		}
		lpath := path
		if lp != nil {
			lpath = lp.Path
		} else {
			lpath = e.localPathFor(path)
		}
		isDir := (lp != nil && lp.Dir) || (rOK && r.IsDirectory) || (bOK && b.Dir)
		if e.ig.Ignored(path, isDir) || (lpath != path && e.ig.Ignored(lpath, isDir)) {
			continue
		}
		ls, bs, rs := localSide(lp), baseSide(b, bOK), remoteSide(r, rOK)
		if ls.k == kFile || bs.k == kFile || rs.k == kFile {
			pl.filesConsidered++
		}
		d := decide(ls, bs, rs)
		mk := func(op opKind) *action {
			a := &action{op: op, key: k, path: path, lpath: lpath, l: lp, b: bs, r: r, rOK: rOK}
			pl.acts = append(pl.acts, a)
			return a
		}
		switch d {
		case decNone:
			if bOK && b.Path != path && rOK {
				mk(opRecord) // a case-only rename on the server: follow its spelling
			}
		case decRecord:
			mk(opRecord)
		case decPush:
			if e.isRefused(k, ls) {
				continue
			}
			if ls.k == kNone {
				if rs.k != kNone {
					a := mk(opDeleteRemote)
					pushDel[k] = a
					if rs.k == kFile {
						pl.remoteDeletes++
					}
				}
				continue
			}
			if rs.k != kNone && rs.k != ls.k {
				a := mk(opDeleteRemote)
				pushDel[k] = a
				if rs.k == kFile {
					pl.remoteDeletes++
				}
			}
			if ls.k == kDir {
				mk(opMkdirRemote)
			} else {
				mk(opUpload)
				pl.transfers++
				pl.transferBytes += lp.Size
			}
		case decPull:
			if rs.k == kNone {
				mk(opDeleteLocal)
				if ls.k == kFile {
					pl.localDeletes++
				}
				continue
			}
			if ls.k != kNone && ls.k != rs.k {
				mk(opDeleteLocal)
				if ls.k == kFile {
					pl.localDeletes++
				}
			}
			if rs.k == kDir {
				mk(opMkdirLocal)
			} else {
				mk(opDownload)
				pl.transfers++
				pl.transferBytes += r.Size
			}
		case decConflict:
			if rs.k == kDir {
				mk(opMkdirLocal).aside = true
			} else {
				mk(opDownload).aside = true
				pl.transfers++
				pl.transferBytes += r.Size
			}
		}
	}
	// A local rename shows as a deleted file and a new file with the same content:
	// pair them into one server move (no upload, and other clients rename instead of
	// downloading again).
	byHash := map[string][]*action{}
	for _, a := range pl.acts {
		if a.op == opDeleteRemote && a.l == nil && a.rOK && !a.r.IsDirectory && !a.covered {
			byHash[a.r.Hash] = append(byHash[a.r.Hash], a)
		}
	}
	if len(byHash) > 0 {
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
			delete(pushDel, d.key)
			pl.remoteDeletes--
			pl.transfers--
			pl.transferBytes -= a.l.Size
			a.op = opMoveRemote
			a.from, a.fromKey, a.fromR = d.path, d.key, d.r
		}
	}
	// A remote directory whose whole remote subtree is being deleted goes in one
	// recursive delete guarded by if_seq.
	for k, a := range pushDel {
		if !a.r.IsDirectory || a.covered {
			continue
		}
		all := true
		var kids []*action
		for rk := range e.remoteM {
			if rk == k || !pathrule.Within(rk, k) {
				continue
			}
			ca, ok := pushDel[rk]
			if !ok {
				all = false
				break
			}
			kids = append(kids, ca)
		}
		if all {
			a.recursive = true
			for _, ca := range kids {
				ca.covered = true
			}
		}
	}
	return pl
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
		case opMoveRemote:
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
