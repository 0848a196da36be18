package authmw

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// failLimiter is a token bucket of failed authentications per client key, in a
// bounded table. A key starts with burst credits; each failure takes one; one credit
// comes back every `every`. A failure when no credit is left is refused (429).
type failLimiter struct {
	mu    sync.Mutex
	m     map[netip.Addr]*bucket
	burst float64
	every time.Duration
	max   int
}

type bucket struct {
	credits   float64
	last      time.Time
	lastAudit time.Time
}

func newFailLimiter(burst int, every time.Duration, max int) *failLimiter {
	return &failLimiter{m: make(map[netip.Addr]*bucket), burst: float64(burst), every: every, max: max}
}

func (l *failLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.credits = math.Min(l.burst, b.credits+float64(el)/float64(l.every))
		b.last = now
	}
}

// fail records a failed authentication for key. It reports limited=true, with the
// seconds until the next credit, when key had no credit left.
func (l *failLimiter) fail(key netip.Addr, now time.Time) (secs int, limited bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		l.makeRoom(now)
		b = &bucket{credits: l.burst, last: now}
		l.m[key] = b
	}
	l.refill(b, now)
	if b.credits >= 1 {
		b.credits--
		return 0, false
	}
	wait := time.Duration((1 - b.credits) * float64(l.every))
	return max(1, int(math.Ceil(wait.Seconds()))), true
}

// auditAllowed reports whether a refused failure of key may be audited now (at most
// one a second per key).
func (l *failLimiter) auditAllowed(key netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		return true
	}
	if now.Sub(b.lastAudit) < time.Second {
		return false
	}
	b.lastAudit = now
	return true
}

// makeRoom keeps the table bounded: when full, it drops keys whose bucket has refilled
// (they carry no state), then arbitrary keys down to 7/8 of the bound. Called with
// l.mu held.
func (l *failLimiter) makeRoom(now time.Time) {
	if len(l.m) < l.max {
		return
	}
	for k, b := range l.m {
		l.refill(b, now)
		if b.credits >= l.burst {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < l.max-l.max/8 {
			break
		}
		delete(l.m, k)
	}
}

func (l *failLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
