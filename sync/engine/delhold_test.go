package engine

import (
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// delPlan is a plan that deletes keys on the server (deleted here).
func delPlan(keys ...string) (*plan, map[string]bool) {
	pl := &plan{}
	set := map[string]bool{}
	for _, k := range keys {
		pl.acts = append(pl.acts, &action{op: opDeleteRemote, key: k, path: k, r: protocol.Metadata{Path: k}, rOK: true})
		pl.remoteDeletes++
		set[k] = true
	}
	return pl, set
}

// TestHoldDeletes walks the delete hold through an rm that pauses between its
// unlinks: one file on its own goes at once, several (or one soon after another) are
// held until no deletion came for the settle time.
func TestHoldDeletes(t *testing.T) {
	const settle = 2 * time.Second
	b := newBook(nil)
	b.hold.on = true
	t0 := time.Unix(1_000_000, 0)
	step := func(at time.Duration, wantHeld, wantActs int, keys ...string) {
		t.Helper()
		pl, set := delPlan(keys...)
		if got := b.holdDeletes(pl, set, t0.Add(at), settle); got != wantHeld || len(pl.acts) != wantActs {
			t.Fatalf("at %v, %v: held %d, %d acts left; want %d, %d", at, keys, got, len(pl.acts), wantHeld, wantActs)
		}
	}
	step(0, 0, 1, "one")                        // an ordinary delete: at once
	step(3*time.Second, 2, 0, "a", "b")         // two at once: held
	step(3100*time.Millisecond, 2, 0, "a", "b") // planned again before settling: still held
	step(4*time.Second, 3, 0, "a", "b", "c")    // a new one: held, the settle starts again
	step(5500*time.Millisecond, 3, 0, "a", "b", "c")
	step(6*time.Second, 0, 3, "a", "b", "c") // 2 s without a new deletion: sent
	if len(b.hold.keys) != 0 {
		t.Fatalf("keys left held: %v", b.hold.keys)
	}
	step(6500*time.Millisecond, 0, 1, "x") // 2.5 s after the last deletion: at once
	step(7*time.Second, 1, 0, "d")         // one soon after another: held
	// d came back here (its plan has no delete): no longer held.
	if got := b.holdDeletes(&plan{}, map[string]bool{"d": true}, t0.Add(7500*time.Millisecond), settle); got != 0 || len(b.hold.keys) != 0 {
		t.Fatalf("a key with nothing to delete stays held: %v", b.hold.keys)
	}
	step(9500*time.Millisecond, 0, 1, "e") // settled again: one goes at once
	b.hold.on = false                      // SyncOnce: never held
	step(9600*time.Millisecond, 0, 2, "f", "g")
}
