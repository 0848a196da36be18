package engine

import (
	"fmt"
	"strings"
	"time"
)

// ConflictName returns the name of the conflict copy of the '/'-separated path p made
// by clientID at time t (SPEC §1): NAME.sync-conflict-YYYYMMDD-HHMMSS-CLIENT8.EXT in UTC,
// where EXT follows the last dot of the file name (none for names like ".bashrc" that
// have no dot after their first character) and CLIENT8 is the first 8 characters of the
// client id. n > 1 adds "-n" for a name that is taken.
func ConflictName(p, clientID string, t time.Time, n int) string {
	dir, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, name = p[:i+1], p[i+1:]
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem, ext = name[:i], name[i:]
	}
	c8 := clientID
	if len(c8) > 8 {
		c8 = c8[:8]
	}
	suffix := ""
	if n > 1 {
		suffix = fmt.Sprintf("-%d", n)
	}
	return dir + stem + ".sync-conflict-" + t.UTC().Format("20060102-150405") + "-" + c8 + suffix + ext
}

// kind is what a path holds on one side.
type kind uint8

const (
	kNone kind = iota
	kFile
	kDir
)

// side is one path on one side (local, base or remote), as the decision sees it.
type side struct {
	k    kind
	hash string
}

func (s side) equal(o side) bool { return s.k == o.k && (s.k != kFile || s.hash == o.hash) }

func (s side) String() string {
	switch s.k {
	case kFile:
		if len(s.hash) > 8 {
			return "file:" + s.hash[:8]
		}
		return "file:" + s.hash
	case kDir:
		return "dir"
	}
	return "none"
}

// decision is the outcome of the three-way comparison of one path.
type decision uint8

const (
	decNone     decision = iota // both sides equal the base
	decRecord                   // both changed the same way: record the new base
	decPush                     // only the local side changed (or modify beats delete)
	decPull                     // only the server changed (or modify beats delete)
	decConflict                 // both changed differently: local copy aside, server wins the name
)

func (d decision) String() string {
	return [...]string{"none", "record", "push", "pull", "conflict"}[d]
}

// decide is the three-way rule of SPEC §1. A missing base (first sync, epoch change)
// is kNone, which makes every rule a merge without deletes.
func decide(l, b, r side) decision {
	lc, rc := !l.equal(b), !r.equal(b)
	switch {
	case !lc && !rc:
		return decNone
	case lc && !rc:
		return decPush
	case !lc && rc:
		return decPull
	case l.equal(r):
		return decRecord
	case l.k == kNone: // deleted here, changed there: modify beats delete
		return decPull
	case r.k == kNone: // deleted there, changed here: modify beats delete
		return decPush
	default:
		return decConflict
	}
}
