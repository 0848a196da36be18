package hub

import "github.com/syncspace/syncspace/auth"

// tokenUse is one token's socket slots and the principal its sockets share.
//
// Every verification of a token returns its own copy of the principal; sockets of one
// token (up to PerToken of them) keep one copy between them instead, so an idle
// socket holds no principal of its own (the copies are equal and never modified).
type tokenUse struct {
	n int             // live sockets, and upgrades in progress, of the token
	p *auth.Principal // the principal of its authenticated sockets, nil before the first
}

// reserve takes one of the token's socket slots before the upgrade; false when the
// cap is reached. register keeps it, unreserve gives it back.
func (h *Hub) reserve(jti string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.perToken[jti]
	if u.n >= h.opts.PerToken {
		return false
	}
	u.n++
	h.perToken[jti] = u
	return true
}

func (h *Hub) unreserve(jti string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.decToken(jti)
}

// authenticated counts an Auth-frame-authenticated connection against p's cap and
// makes p (or the token's shared principal) c's principal; false when the cap is
// reached.
func (h *Hub) authenticated(c *conn, p *auth.Principal) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.perToken[p.JTI]
	if u.n >= h.opts.PerToken {
		return false
	}
	u.n++
	h.perToken[p.JTI] = u
	c.setAuthenticated(h.sharedPrincipalLocked(p))
	h.perTenant[p.Tenant]++
	h.metrics.ConnOpened(p.Tenant)
	return true
}

// refreshed moves c's socket slot from its current token to p's and makes p the
// connection's principal, both under h.mu so that the count always matches what the
// connections hold. The cap counts here too (SPEC §4: a Refresh to a token already
// at its cap is refused, and the socket keeps its old token): false, nothing changed.
func (h *Hub) refreshed(c *conn, p *auth.Principal) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := c.principal.Load()
	if old.JTI != p.JTI {
		u := h.perToken[p.JTI]
		if u.n >= h.opts.PerToken {
			return false
		}
		h.decToken(old.JTI)
		u.n++
		h.perToken[p.JTI] = u
	}
	c.principal.Store(h.sharedPrincipalLocked(p))
	return true
}

// sharedPrincipalLocked returns the principal the sockets of p's token share: the
// one they hold when it equals p, else p (which becomes the shared one if there is
// none yet). p's slot is counted already. h.mu is held.
func (h *Hub) sharedPrincipalLocked(p *auth.Principal) *auth.Principal {
	u, ok := h.perToken[p.JTI]
	if !ok {
		return p
	}
	if u.p == nil {
		u.p = p
		h.perToken[p.JTI] = u
		return p
	}
	if *u.p == *p {
		return u.p
	}
	return p
}

func (h *Hub) decToken(jti string) {
	u := h.perToken[jti]
	if u.n <= 1 {
		delete(h.perToken, jti)
		return
	}
	u.n--
	h.perToken[jti] = u
}
