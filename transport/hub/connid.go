package hub

import (
	"crypto/rand"
	"encoding/hex"
)

// connID identifies a connection (GET /admin/connections). It is kept as its 12
// random bytes, so that a socket holds no string for it; String gives the 24 hex
// digits clients see.
type connID [12]byte

func newID() connID {
	var id connID
	_, _ = rand.Read(id[:])
	return id
}

func (id connID) String() string { return hex.EncodeToString(id[:]) }

// parseConnID reads a connection id as String wrote it.
func parseConnID(s string) (connID, bool) {
	var id connID
	if len(s) != hex.EncodedLen(len(id)) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, true
}
