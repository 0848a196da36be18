package authmw

import (
	"math"
	"net/http"
	"net/netip"
	"time"
)

// Guesses of secrets other than tokens (share link ids and passwords) count towards
// the same failed-authentication limiter. Unlike a token, a guess can succeed, so an
// address with no credit left is refused before anything is checked: a correct
// guess must not be told apart while limited.

// GuessAllowed returns nil, or a rate_limited error (with Retry-After) when r's
// address has no failed attempt left.
func (m *Middleware) GuessAllowed(r *http.Request) error {
	key := limitKey(m.ClientAddrOf(r))
	if secs, limited := m.limiter.peek(key, m.now()); limited {
		return &rateLimitedError{secs: secs}
	}
	return nil
}

// GuessFailed records a failed guess from r's address; it returns a rate_limited
// error when that address had no credit left.
func (m *Middleware) GuessFailed(r *http.Request) error {
	key := limitKey(m.ClientAddrOf(r))
	if secs, limited := m.limiter.fail(key, m.now()); limited {
		return &rateLimitedError{secs: secs}
	}
	return nil
}

// LimitedAuditAllowed reports whether a refusal of r's address for having no credit
// left (GuessAllowed's or GuessFailed's rate_limited error) may be audited now: at
// most once a second per address, as failed admin authentications are, so that a
// client guessing at line rate cannot grow the append-only audit log at that rate.
func (m *Middleware) LimitedAuditAllowed(r *http.Request) bool {
	return m.limiter.auditAllowed(limitKey(m.ClientAddrOf(r)), m.now())
}

// peek reports, without taking a credit, whether key has none left, and the seconds
// until its next one.
func (l *failLimiter) peek(key netip.Addr, now time.Time) (secs int, limited bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		return 0, false
	}
	l.refill(b, now)
	if b.credits >= 1 {
		return 0, false
	}
	wait := time.Duration((1 - b.credits) * float64(l.every))
	return max(1, int(math.Ceil(wait.Seconds()))), true
}
