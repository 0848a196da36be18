package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// isHashHex reports whether s is a lowercase hex SHA-256 (64 of [0-9a-f]). It runs for
// every entry of a listing: a loop, where a regexp cost a tenth of a client's CPU in a
// full reconcile of a million files.
func isHashHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CheckEvent validates one event received from the server before anything is done
// with it: a known operation, clean paths (SPEC §3, NFC, never the state directory),
// a well-formed hash, a positive seq. A malicious or broken server cannot make the
// client write outside DIR or into .syncspace through an event that passes.
func CheckEvent(ev protocol.Event) error {
	if ev.Seq <= 0 {
		return protocol.Errorf(protocol.CodeBadRequest, "event without a positive seq")
	}
	k := ev.Operation.Kind()
	if k == "" {
		return protocol.Errorf(protocol.CodeBadRequest, "event with no single operation")
	}
	if err := CheckMeta(ev.Operation.Meta()); err != nil {
		return err
	}
	if k == protocol.OpMove {
		from := ev.Operation.Move.From
		cp, err := pathrule.Clean(from)
		if err != nil {
			return err
		}
		if cp != from {
			return protocol.Errorf(protocol.CodeInvalidPath, "move source is not in canonical form")
		}
		if pathrule.Within(ev.Operation.Move.Metadata.Path, from) && pathrule.FoldKey(from) != pathrule.FoldKey(ev.Operation.Move.Metadata.Path) {
			return protocol.Errorf(protocol.CodeInvalidPath, "move into its own subtree")
		}
	}
	return nil
}

// CheckMeta validates metadata received from the server (events and list entries).
func CheckMeta(m protocol.Metadata) error {
	cp, err := pathrule.Clean(m.Path)
	if err != nil {
		return err
	}
	if cp != m.Path {
		return protocol.Errorf(protocol.CodeInvalidPath, "path is not in canonical (NFC) form")
	}
	if m.IsDirectory {
		if m.Hash != "" {
			return protocol.Errorf(protocol.CodeBadRequest, "directory with a hash")
		}
	} else if !isHashHex(m.Hash) {
		return protocol.Errorf(protocol.CodeBadRequest, "file without a valid hash")
	}
	if m.Size < 0 {
		return protocol.Errorf(protocol.CodeBadRequest, "negative size")
	}
	return nil
}

// pendingMove is a server Move that may be mirrored by a local rename.
type pendingMove struct {
	fromKey, fromPath, toKey, toPath string
	dir                              bool
}

// applyEvent applies one checked event to the remote map and returns the keys it
// touched. Caller holds e.mu.
func (e *book) applyEvent(ev protocol.Event, touched map[string]bool, moves *[]pendingMove) {
	op := ev.Operation
	m := op.Meta()
	if m.Seq == 0 {
		m.Seq = ev.Seq
	}
	k := pathrule.FoldKey(m.Path)
	addParents := func(p string) {
		for dir := pathrule.Parent(p); dir != ""; dir = pathrule.Parent(dir) {
			dk := pathrule.FoldKey(dir)
			if e.vouchDir(dk, dir, ev.Seq) {
				touched[dk] = true
			}
		}
	}
	switch op.Kind() {
	case protocol.OpCreate, protocol.OpUpdate:
		if cur, ok := e.remoteM[k]; ok && cur.Seq > ev.Seq {
			return
		}
		if cur, ok := e.remoteM[k]; ok && cur.IsDirectory != m.IsDirectory {
			e.touchSubtree(k, true, touched)
			removeSubtree(e.remoteM, k)
		}
		e.remoteM[k] = m
		touched[k] = true
		addParents(m.Path)
	case protocol.OpDelete:
		if e.leaf(k, m.IsDirectory) {
			touched[k] = true
			if cur, ok := e.remoteM[k]; ok && cur.Seq <= ev.Seq {
				delete(e.remoteM, k)
			}
			return
		}
		e.touchSubtree(k, m.IsDirectory, touched)
		for rk, cur := range e.remoteM {
			if pathrule.Within(rk, k) && cur.Seq <= ev.Seq {
				delete(e.remoteM, rk)
			}
		}
	case protocol.OpMove:
		from := op.Move.From
		fk := pathrule.FoldKey(from)
		fileOnly := e.leaf(fk, m.IsDirectory)
		e.touchSubtree(fk, m.IsDirectory, touched)
		e.touchSubtree(k, m.IsDirectory, touched)
		moved := map[string]protocol.Metadata{}
		if fileOnly {
			delete(e.remoteM, fk) // nothing under it
		} else {
			e.moveRemoteSubtree(fk, from, k, m.Path, ev.Seq, moved)
		}
		for nk, cur := range moved {
			e.remoteM[nk] = cur
			touched[nk] = true
		}
		e.remoteM[k] = m
		addParents(m.Path)
		*moves = append(*moves, pendingMove{fromKey: fk, fromPath: from, toKey: k, toPath: m.Path, dir: m.IsDirectory})
	}
}

// leaf reports whether nothing can lie under key: the event is of a file (dir false)
// and no side holds key as a directory. Its subtree is then key alone, found without
// a walk over the three maps (which made each event cost the size of the folder: 1000
// file deletes and moves took over 100 s in a folder of 100k files). Caller holds
// e.mu.
func (e *book) leaf(key string, dir bool) bool {
	if dir {
		return false
	}
	r, rOK := e.remoteM[key]
	b, bOK := e.base[key]
	l, lOK := e.local[key]
	return !(rOK && r.IsDirectory) && !(bOK && b.Dir) && !(lOK && l.Dir)
}

// touchSubtree adds key and every key under it on any side to touched (dir: the
// event is of a directory). Caller holds e.mu.
func (e *book) touchSubtree(key string, dir bool, touched map[string]bool) {
	touched[key] = true
	if e.leaf(key, dir) {
		return
	}
	for rk := range e.remoteM {
		if pathrule.Within(rk, key) {
			touched[rk] = true
		}
	}
	for bk := range e.base {
		if pathrule.Within(bk, key) {
			touched[bk] = true
		}
	}
	for lk := range e.local {
		if pathrule.Within(lk, key) {
			touched[lk] = true
		}
	}
}

// moveRemoteSubtree takes the remote entries at and under the key fk (path from) out
// of the remote map and puts those under it into moved, renamed under the key k (path
// to) with the seq of the move. Caller holds e.mu.
func (e *book) moveRemoteSubtree(fk, from, k, to string, seq int64, moved map[string]protocol.Metadata) {
	for rk, cur := range e.remoteM {
		if !pathrule.Within(rk, fk) {
			continue
		}
		delete(e.remoteM, rk)
		if rk == fk {
			continue
		}
		cur.Path = to + cur.Path[len(from):]
		cur.Seq = seq
		moved[k+rk[len(fk):]] = cur
	}
}

// advance moves e.seq over events and own changes that are contiguous with it.
// Events are applied through applyEvent into e.batch. Caller holds e.mu.
func (e *book) advance() {
	for {
		n := e.seq + 1
		if e.ownSeqs[n] {
			delete(e.ownSeqs, n)
			e.seq = n
			e.dirty = true
			continue
		}
		ev, ok := e.pending[n]
		if !ok {
			break
		}
		delete(e.pending, n)
		e.applyEvent(ev, e.batchTouched, &e.batchMoves)
		e.seq = n
		e.dirty = true
	}
	for s := range e.ownSeqs {
		if s <= e.seq {
			delete(e.ownSeqs, s)
		}
	}
}

// offerEvents queues checked events (any order) and applies what is contiguous. It
// reports whether a gap remains (events after a missing seq). Caller holds e.mu.
func (e *book) offerEvents(evs []protocol.Event) (gap bool) {
	for _, ev := range evs {
		if err := e.checkEvent(ev); err != nil {
			e.log.Warn("ignoring a bad event from the server", "seq", ev.Seq, "err", err)
			if ev.Seq > e.seq {
				// Keep the seq line intact: treat it as an empty change.
				e.ownSeqs[ev.Seq] = true
			}
			continue
		}
		if ev.Seq <= e.seq {
			continue
		}
		e.pending[ev.Seq] = ev
	}
	e.advance()
	return len(e.pending) > 0
}

// errResync means the server's history no longer reaches our seq (or epoch).
var errResync = errors.New("resync required")

// catchUp reads the changes feed from e.seq to the head and applies it. A 410 gives
// errResync.
func (e *Engine) catchUp(ctx context.Context) error {
	for i := 0; ; i++ {
		e.mu.Lock()
		since, epoch := e.seq, e.epoch
		e.mu.Unlock()
		scoped := scopedFeed(e.remote)
		page, err := e.remote.Changes(ctx, since, epoch, protocol.MaxChangesLimit)
		if err != nil {
			if protocol.CodeOf(err) == protocol.CodeResyncRequired {
				return errResync
			}
			return err
		}
		if page.Epoch != "" && epoch != "" && page.Epoch != epoch {
			return errResync
		}
		e.mu.Lock()
		if scoped {
			e.acceptScopedPage(page)
		} else {
			err = e.acceptPage(page, since)
		}
		e.mu.Unlock()
		if err != nil {
			return err
		}
		if !page.More {
			return nil
		}
		if i > 1000 {
			return errors.New("changes feed does not end")
		}
	}
}

// acceptPage applies one page of the changes feed read from since: every seq after
// since up to page.Seq must be in it. Caller holds e.mu.
func (e *book) acceptPage(page protocol.ChangesPage, since int64) error {
	for _, ev := range page.Events {
		if ev.Seq > since {
			// The feed has no gaps: anything we thought was our own is in it too.
			delete(e.ownSeqs, ev.Seq)
		}
	}
	e.offerEvents(page.Events)
	if len(e.pending) > 0 {
		// The feed skipped a seq: never expected; start over from a full list.
		e.pending = map[int64]protocol.Event{}
		return errResync
	}
	if page.Seq > e.seq && len(page.Events) == 0 {
		return fmt.Errorf("changes feed ends at %d without events after %d", page.Seq, since)
	}
	return nil
}

// scopedFeed reports whether r's changes feed and live events are those of a
// path-scoped token (SPEC §7.5): gaps in seq, and several events with one seq.
func scopedFeed(r Remote) bool {
	s, ok := r.(PathScoper)
	return ok && s.PathScoped()
}

// acceptScopedPage applies one page of a path-scoped token's changes feed (SPEC
// §7.5): the page holds every event inside the scope up to page.Seq, the last seq the
// server examined, and nothing of the rest, so its gaps in seq are changes outside;
// a directory moved in comes as several Creates with the move's seq. Caller holds
// e.mu.
func (e *book) acceptScopedPage(page protocol.ChangesPage) {
	evs := slices.Clone(page.Events)
	slices.SortStableFunc(evs, func(a, b protocol.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	from, head := e.seq, page.Seq
	for _, ev := range evs {
		if ev.Seq <= from {
			continue
		}
		if err := e.checkEvent(ev); err != nil {
			e.log.Warn("ignoring a bad event from the server", "seq", ev.Seq, "err", err)
			continue
		}
		e.applyEvent(ev, e.batchTouched, &e.batchMoves)
		head = max(head, ev.Seq)
	}
	for s := range e.pending {
		if s <= head {
			delete(e.pending, s)
		}
	}
	if head > e.seq {
		e.seq = head
		e.dirty = true
	}
	e.advance()
}
