package tenants

import (
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/tenants/blob"
)

// Own writes.
//
// Every change syncd makes under files/ comes back as watcher events a moment later.
// Checking such a name against the index is correct but costs a query, and looking at
// its whole directory costs a stat per entry. So while a watcher runs, each write
// records, after its commit and still inside the commit section, the disk state it
// left at each name it changed (an ownMark). The watcher drops an event whose name
// still shows exactly that state — same inode, type, size, mtime and ctime for a file,
// same inode for a directory (whose times change with its children), absent for a
// name removed (or under a directory removed) — without any query. Any other state,
// including a mark too old or already used, goes through the ordinary check against
// the index, so a mark can only skip work, never hide a change made by hand: a hand
// change alters the ctime or inode, and a mark that does not match is dropped.

// ownMarkTTL is how long a mark waits for its events.
const ownMarkTTL = 30 * time.Second

// maxOwnMarks bounds the marks kept; beyond it they are dropped (events then take the
// ordinary check).
const maxOwnMarks = 1 << 17

// ownMark is the disk state a write of syncd left at one name.
type ownMark struct {
	absent   bool
	isDir    bool
	dev, ino uint64
	size     int64
	mtime    int64
	ctime    int64
	at       time.Time
}

// ownMarks is a space's marks by path.
type ownMarks struct {
	mu sync.Mutex
	m  map[string]ownMark
}

// statMark returns the mark describing what lstat found at p (absent when p does
// not exist); ok is false for any other lstat error.
func (s *reconciler) statMark(p string) (ownMark, bool) {
	return lstatMark(s.disk.Lstat(p))
}

// lstatMark is the mark of an lstat's result fi, err (statMark).
func lstatMark(fi fs.FileInfo, err error) (ownMark, bool) {
	if err != nil {
		return errMark(err)
	}
	m, ok := fsys.StatMark(fi)
	if !ok {
		return ownMark{}, false
	}
	return toMark(m), true
}

// errMark is the mark of a failed lstat: absent when nothing is there, else none.
func errMark(err error) (ownMark, bool) {
	if errors.Is(err, fs.ErrNotExist) || fsys.IsNotDir(err) {
		return ownMark{absent: true}, true
	}
	return ownMark{}, false
}

func toMark(m fsys.Mark) ownMark {
	return ownMark{isDir: m.IsDir, dev: m.Dev, ino: m.Ino, size: m.Size, mtime: m.Mtime, ctime: m.Ctime}
}

// batchMarker returns how a group commit describes the paths it changed: through the
// directories its batch holds open (blob.BatchMark: one fstatat a path instead of a
// walk from the root), else by path (byPath).
func batchMarker(b blob.Batch, byPath func(p string) (ownMark, bool)) func(p string) (ownMark, bool) {
	bm, ok := b.(blob.BatchMark)
	if !ok {
		return byPath
	}
	return func(p string) (ownMark, bool) {
		m, err := bm.Mark(p)
		if errors.Is(err, errors.ErrUnsupported) {
			return byPath(p)
		}
		if err != nil {
			return errMark(err)
		}
		return toMark(m), true
	}
}

// watching reports whether a watcher runs (marks are only kept then).
func (s *reconciler) watching() bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.w != nil && !s.closed
}

// markOwn records the current disk state of each path as syncd's own, read through
// look (nil: statMark, by path). The caller holds s.mu exclusively and has committed
// the change.
func (s *reconciler) markOwn(look func(p string) (ownMark, bool), paths ...string) {
	if len(paths) == 0 || !s.rc.watching() {
		return
	}
	if look == nil {
		look = s.rc.statMark
	}
	now := time.Now()
	marks := make([]ownMark, len(paths))
	for i, p := range paths {
		m, ok := look(p)
		if !ok {
			marks[i].at = time.Time{} // unusable: no mark
			continue
		}
		m.at = now
		marks[i] = m
	}
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	if s.own.m == nil || len(s.own.m) >= maxOwnMarks {
		s.own.m = map[string]ownMark{}
	}
	for i, p := range paths {
		if marks[i].at.IsZero() {
			delete(s.own.m, p)
			continue
		}
		s.own.m[p] = marks[i]
	}
}

// isOwn reports whether the disk at p still shows the state of syncd's own last write
// there (or, for a missing p, of a removal of one of its ancestors). seen is the
// state at p found since the last change there (the watcher's lstat at the event
// that reported it); nil: lstat p now. A mark that matches is used up; one that does
// not is dropped.
func (s *reconciler) isOwn(p string, seen *ownMark) bool {
	s.own.mu.Lock()
	empty := len(s.own.m) == 0
	s.own.mu.Unlock()
	if empty {
		return false
	}
	var cur ownMark
	if seen != nil {
		cur = *seen
	} else {
		var ok bool
		if cur, ok = s.rc.statMark(p); !ok {
			return false
		}
	}
	now := time.Now()
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	if m, found := s.own.m[p]; found {
		delete(s.own.m, p)
		return now.Sub(m.at) < ownMarkTTL && sameMark(m, cur)
	}
	if !cur.absent {
		return false
	}
	for a := pathrule.Parent(p); a != ""; a = pathrule.Parent(a) {
		if m, found := s.own.m[a]; found {
			return m.absent && now.Sub(m.at) < ownMarkTTL
		}
	}
	return false
}

// expireOwn drops marks older than ownMarkTTL.
func (s *reconciler) expireOwn() {
	now := time.Now()
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	for p, m := range s.own.m {
		if now.Sub(m.at) >= ownMarkTTL {
			delete(s.own.m, p)
		}
	}
}

func sameMark(a, b ownMark) bool {
	if a.absent || b.absent {
		return a.absent == b.absent
	}
	if a.isDir != b.isDir || a.dev != b.dev || a.ino != b.ino {
		return false
	}
	return a.isDir || (a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime)
}
