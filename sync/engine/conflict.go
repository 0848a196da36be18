package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// ConflictName returns the name of the conflict copy of the '/'-separated path p made
// by clientID at time t (SPEC §1): NAME.sync-conflict-YYYYMMDD-HHMMSS-CLIENT8.EXT in UTC,
// where EXT follows the last dot of the file name (none for names like ".bashrc" that
// have no dot after their first character) and CLIENT8 is the first 8 characters of the
// client id. n > 1 adds "-n" for a name that is taken.
//
// The name always fits the limits of SPEC §3, which file systems share (255 bytes a
// segment: ext4, APFS; NTFS counts 255 UTF-16 units, never more than the UTF-8 bytes),
// and keeps the whole path within 4096 bytes where the directory leaves room: NAME is
// cut (see fitSegment) so that the copy's name fits, EXT kept.
func ConflictName(p, clientID string, t time.Time, n int) string {
	dir, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, name = p[:i+1], p[i+1:]
	}
	stem, ext := splitExt(name)
	c8 := clientID
	if len(c8) > 8 {
		c8 = c8[:8]
	}
	suffix := ""
	if n > 1 {
		suffix = fmt.Sprintf("-%d", n)
	}
	tag := ".sync-conflict-" + t.UTC().Format("20060102-150405") + "-" + c8 + suffix
	room := pathrule.MaxSegmentBytes
	if r := pathrule.MaxPathBytes - nameSize(dir); r < room && r > len(tag)+len(ext) {
		room = r
	}
	return dir + fitSegment("", stem, tag, ext, room)
}

// splitExt splits a file name at its last dot: ext is "" for a name without a dot
// after its first character (".bashrc").
func splitExt(name string) (stem, ext string) {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i], name[i:]
	}
	return name, ""
}

// fitSegment returns head+stem+tag+ext as one name of at most room bytes, both as
// given and in NFC (the form the server counts; a local name may be another form):
// stem is cut to its longest prefix that fits, at a normalization boundary (a rune
// that combines with nothing before it), so the cut neither splits a character nor
// detaches an accent from its letter. When ext leaves no room for a single character
// of stem, ext is cut with stem instead. head and tag are kept whole.
func fitSegment(head, stem, tag, ext string, room int) string {
	fixed := nameSize(head) + nameSize(tag)
	if fixed+nameSize(stem)+nameSize(ext) <= room {
		return head + stem + tag + ext
	}
	if cut := fitPrefix(stem, room-fixed-nameSize(ext)); cut != "" {
		return head + cut + tag + ext
	}
	return head + fitPrefix(stem+ext, room-fixed) + tag
}

// fitPrefix returns the longest prefix of s that ends at a normalization boundary and
// measures at most budget bytes (nameSize); "" when none does.
func fitPrefix(s string, budget int) string {
	for i := min(len(s), budget); i > 0; i-- {
		if i < len(s) && (!utf8.RuneStart(s[i]) || !norm.NFC.PropertiesString(s[i:]).BoundaryBefore()) {
			continue
		}
		if nameSize(s[:i]) <= budget {
			return s[:i]
		}
	}
	return ""
}

// nameSize is the length of s in bytes as given or in NFC, whichever is larger: a
// name must fit the local file system as it is and the server's rules once normalized.
func nameSize(s string) int {
	if norm.NFC.IsNormalString(s) {
		return len(s)
	}
	return max(len(s), len(norm.NFC.String(s)))
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

// moveAside renames the local version at p (file or directory) to a free conflict
// name and returns that name. The copy is then synced like any new file.
func (e disk) moveAside(k, p string, out *outcome) (string, error) {
	return e.aside(k, p, p, nil, out)
}

// aside renames src to a free conflict name of p (the key k's path) and returns that
// name. When src is p, the local entries under k go with it (moveAside); otherwise src
// is outside the book (what a replace took out of p, replace.go) and is recorded
// under its new name, its hash reused from was when the stat still matches.
func (e disk) aside(k, src, p string, was *localEntry, out *outcome) (string, error) {
	e.mu.Lock()
	id := e.clientID
	e.mu.Unlock()
	now := e.opts.Now()
	for n := 1; n < 1000; n++ {
		name := ConflictName(p, id, now, n)
		if _, err := e.root.Lstat(name); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("conflict copy: %w", err) // not "taken": no other n helps
		}
		nk := name
		if cp, err := pathrule.Clean(name); err == nil {
			nk = pathrule.FoldKey(cp)
		}
		e.mu.Lock()
		_, r := e.remoteM[nk]
		_, b := e.base[nk]
		e.mu.Unlock()
		if r || b {
			continue
		}
		if err := e.root.RenameNoReplace(src, name); errors.Is(err, fs.ErrExist) {
			continue // made meanwhile by someone else: never replaced
		} else if err != nil {
			return "", fmt.Errorf("conflict copy: %w", err)
		}
		e.recordAside(k, src, p, nk, name, was)
		out.again(nk)
		e.st.conflict()
		e.log.Warn("conflict: local version kept as a conflict copy", "path", p, "copy", name)
		return name, nil
	}
	return "", errors.New("conflict copy: no free name")
}

// recordAside books the conflict copy name (key nk) that aside made of src.
func (e disk) recordAside(k, src, p, nk, name string, was *localEntry) {
	var le *localEntry
	if src != p {
		var cached *localEntry
		if was != nil {
			c := *was
			c.Path = name
			cached = &c
		}
		le, _ = e.statLocal(name, cached) // nil on failure: the next scan finds it
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if src == p {
		moveLocal(e.local, k, p, nk, name)
	} else if le != nil {
		e.local[nk] = *le
	}
	e.dirty = true
}
