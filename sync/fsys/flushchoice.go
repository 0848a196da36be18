// flushChoice: whether a Flusher merges its requests or lets each fsync alone.

package fsys

import (
	"sync"
	"time"
)

// A Flusher serves a request in one of two ways: merged (queued for the next round,
// one syncfs for all) or direct (the file's own fsync, at once, concurrent with the
// others). Which is faster depends on the file system and what else runs on it: on a
// disk that serves one flush at a time, merging wins by the number of requests per
// round; on a journaling file system shared with other programs, a syncfs also writes
// back their dirty data, and concurrent fsyncs of a few directories (which the
// journal commits together) answer several times sooner. So the Flusher measures:
// each request's latency, from the call to the answer, goes into the running average
// of its way, and requests take the way that is currently faster. Every trialEvery
// the other way serves trialRequests requests, so that its average follows changes
// of the load. Both ways make the file durable before the answer; only the latency
// differs.
type flushChoice struct {
	mu    sync.Mutex
	lat   [2]time.Duration // running average latency per way (0: not measured yet)
	way   flushWay         // the way requests take outside trials
	trial int              // requests still to serve the other way
	next  time.Time        // when the other way is tried again (zero: set on first use)
}

// flushWay is how a Flusher serves a request.
type flushWay int

const (
	wayMerged flushWay = iota // queued for the next round (syncfs when several)
	wayDirect                 // the file's own fsync, at once
)

const (
	// trialEvery is how often the way not taken is tried again, and trialRequests
	// how many requests it serves then.
	trialEvery    = time.Second
	trialRequests = 16
	// latencyWeight is the weight 1/latencyWeight of a new latency in the average.
	latencyWeight = 8
)

// pick returns the way of a request made at now.
func (c *flushChoice) pick(now time.Time) flushWay {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next.IsZero() {
		c.next = now.Add(trialEvery)
	}
	if c.trial == 0 && now.After(c.next) {
		c.trial = trialRequests
		c.next = now.Add(trialEvery)
	}
	if c.trial > 0 {
		c.trial--
		return 1 - c.way
	}
	return c.way
}

// observe records the latency d of a request served by way w and takes the faster
// way once both are measured.
func (c *flushChoice) observe(w flushWay, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lat[w] == 0 {
		c.lat[w] = max(d, 1)
	} else {
		c.lat[w] = max(c.lat[w]+(d-c.lat[w])/latencyWeight, 1)
	}
	if c.trial == 0 && c.lat[wayMerged] > 0 && c.lat[wayDirect] > 0 {
		c.way = wayMerged
		if c.lat[wayDirect] < c.lat[wayMerged] {
			c.way = wayDirect
		}
	}
}
