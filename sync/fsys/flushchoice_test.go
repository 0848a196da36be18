package fsys

import (
	"testing"
	"time"
)

// TestFlushChoice: requests take the way with the lower measured latency, the other
// way is tried again every trialEvery for trialRequests requests, and a change of
// which way is faster is followed after the next trial.
func TestFlushChoice(t *testing.T) {
	var c flushChoice
	now := time.Unix(1000, 0)
	cost := [2]time.Duration{wayMerged: 5 * time.Millisecond, wayDirect: 40 * time.Millisecond}
	// run serves n requests, one every millisecond, and counts each way.
	run := func(n int) (ways [2]int) {
		for range n {
			w := c.pick(now)
			ways[w]++
			c.observe(w, cost[w])
			now = now.Add(time.Millisecond)
		}
		return ways
	}
	// Before the first trial everything is merged, as a Flusher always did.
	if got := run(900); got[wayDirect] != 0 {
		t.Fatalf("direct before any trial: %v", got)
	}
	// A trial of direct fsyncs, slower here: merged stays the way.
	if got := run(1000); got[wayDirect] != trialRequests {
		t.Fatalf("one trial second: %v, want %d direct", got, trialRequests)
	}
	if c.way != wayMerged {
		t.Fatal("took the slower way")
	}
	// Now direct fsyncs are faster: after the next trial they are the way, and the
	// merged way gets the trials.
	cost = [2]time.Duration{wayMerged: 30 * time.Millisecond, wayDirect: time.Millisecond}
	run(1100)
	if c.way != wayDirect {
		t.Fatalf("way %d after direct became faster (latencies %v)", c.way, c.lat)
	}
	if got := run(1000); got[wayMerged] != trialRequests {
		t.Fatalf("a second of the direct way: %v, want %d merged (the trial)", got, trialRequests)
	}
	// And back when merging becomes the faster way again (a slow one-at-a-time disk).
	cost = [2]time.Duration{wayMerged: 6 * time.Millisecond, wayDirect: 60 * time.Millisecond}
	run(3000)
	if c.way != wayMerged {
		t.Fatalf("way %d after merging became faster (latencies %v)", c.way, c.lat)
	}
}
