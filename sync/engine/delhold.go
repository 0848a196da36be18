package engine

import (
	"maps"
	"time"
)

// The delete hold: server deletes of files deleted here wait until the local
// deletions have settled, while the folder is checked to be still there.
//
// The vanished-folder guard (checkRoot) stops the client when DIR or DIR/.syncspace
// is gone, but an rm -rf of the whole folder removes its entries one by one in
// directory order, .syncspace among them at any point: every batch the watcher
// hands over before the rm reaches .syncspace (a pause of more than the debounce
// between two unlinks, or any rm longer than the 4 × Debounce cut of a burst) was
// sent as deletes, and the server lost every file the rm had reached.
//
// So a pass that finds more than one local deletion, or any deletion while others
// are held or within DeleteSettle of the last one, sends none of them: their keys are
// held, and planned again (with a fresh look at the folder, after checkRoot) once
// DeleteSettle has passed without a new local deletion. An rm of the folder reaches
// .syncspace or DIR itself within that time unless it pauses longer, and the client
// stops with nothing deleted on the server. One file deleted on its own, with no
// other deletion within DeleteSettle before it, goes at once (the usual debounce):
// an rm that pauses right after its very first unlink still loses that one file on
// the server (whose version the server keeps).
//
// Only Run holds (SyncOnce decides once and exits). Nothing else in a pass waits: a
// held key's other changes (the server modified it: modify beats delete) are decided
// as usual.
type delHold struct {
	on   bool            // Run: the hold applies
	keys map[string]bool // keys whose server delete is held
	last time.Time       // when a pass last found a local deletion not held before
}

// DefaultDeleteSettle is the default of Options.DeleteSettle.
const DefaultDeleteSettle = 2 * time.Second

// heldDelete reports whether a is a server delete of something deleted here (not
// the delete half of a type change, which its mkdir or upload needs now). moved holds
// the keys whose delete a local rename took over (pairRenames).
func heldDelete(a *action, moved map[string]bool) bool {
	return a.op == opDeleteRemote && a.l == nil && !moved[a.key]
}

// holdDeletes applies the delete hold to pl, a plan of keys made at now: it returns
// the number of keys whose server delete it took out of the plan. The caller holds
// e.mu.
func (e *book) holdDeletes(pl *plan, keys map[string]bool, now time.Time, settle time.Duration) int {
	h := &e.hold
	if !h.on {
		return 0
	}
	moved := map[string]bool{}
	for _, a := range pl.acts {
		if a.op == opMoveRemote && a.fromKey != "" {
			moved[a.fromKey] = true
		}
	}
	dels := map[string]bool{}
	fresh := 0
	for _, a := range pl.acts {
		if heldDelete(a, moved) {
			dels[a.key] = true
			if !h.keys[a.key] {
				fresh++
			}
		}
	}
	for k := range keys {
		if h.keys[k] && !dels[k] {
			delete(h.keys, k) // nothing to delete any more (back here, or gone there)
		}
	}
	if len(dels) == 0 {
		return 0
	}
	quiet := h.last.IsZero() || now.Sub(h.last) >= settle
	if fresh > 0 {
		h.last = now
	}
	switch {
	case fresh == 1 && len(dels) == 1 && len(h.keys) == 0 && quiet:
		return 0 // one file deleted on its own: at once
	case fresh == 0 && quiet:
		for k := range dels {
			delete(h.keys, k) // settled: sent now
		}
		return 0
	}
	if h.keys == nil {
		h.keys = map[string]bool{}
	}
	kept := pl.acts[:0]
	for _, a := range pl.acts {
		if dels[a.key] && a.op == opDeleteRemote {
			h.keys[a.key] = true
			if !a.r.IsDirectory {
				pl.remoteDeletes--
			}
			continue
		}
		kept = append(kept, a)
	}
	pl.acts = kept
	return len(dels)
}

// heldDue returns when the held deletes are to be planned again (ok false: none held).
// The caller holds e.mu.
func (e *book) heldDue(settle time.Duration) (time.Time, bool) {
	if len(e.hold.keys) == 0 {
		return time.Time{}, false
	}
	return e.hold.last.Add(settle), true
}

// heldKeys returns the held keys (planned again by the caller). The caller holds
// e.mu.
func (e *book) heldKeys() map[string]bool { return maps.Clone(e.hold.keys) }
