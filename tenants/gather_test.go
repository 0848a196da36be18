package tenants

import "testing"

// TestGatherWakes: a gathering leader is woken only when its wait can end: the last
// upload being received arrived or failed, or a full batch is queued.
func TestGatherWakes(t *testing.T) {
	woken := func(g *groupCommit) bool {
		select {
		case <-g.arrived:
			return true
		default:
			return false
		}
	}
	g := &groupCommit{arrived: make(chan struct{}, 1)}
	g.receiving.Add(3)
	g.doneReceiving(1)
	if woken(g) {
		t.Fatal("woken while two uploads are still received")
	}
	g.doneReceiving(maxBatch)
	if !woken(g) {
		t.Fatal("not woken by a full batch")
	}
	g.doneReceiving(0) // the last one failed
	if !woken(g) || g.receiving.Load() != 0 {
		t.Fatal("not woken when nothing is received any more")
	}
}
