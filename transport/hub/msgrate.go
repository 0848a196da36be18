package hub

import "time"

// monoStart anchors msgBucket's clock: time.Since(monoStart) reads the monotonic
// clock, so a wall-clock step neither refills a bucket nor stalls it.
var monoStart = time.Now()

// msgBucket is a connection's inbound message rate limit: a token bucket of burst
// messages refilled at rate per second, full at the first message (as a fresh
// golang.org/x/time/rate.Limiter is). It is a value in conn, 16 bytes and no
// allocation, because every idle socket holds one. Only the reader uses it.
type msgBucket struct {
	tokens float64
	last   time.Duration // since monoStart at the last message; 0 = none yet
}

// allow takes one token for a message arriving now and reports whether there was one.
func (b *msgBucket) allow(rate float64, burst int) bool {
	return b.allowAt(time.Since(monoStart)+1, rate, burst)
}

// allowAt is allow at now (since monoStart, > 0).
func (b *msgBucket) allowAt(now time.Duration, rate float64, burst int) bool {
	full := float64(burst)
	if b.last == 0 {
		b.tokens = full
	} else if el := now - b.last; el > 0 {
		b.tokens = min(full, b.tokens+el.Seconds()*rate)
	}
	b.last = max(b.last, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
