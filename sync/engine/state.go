package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
)

// stateVersion is bumped when the state file's meaning changes; an unknown version is
// treated like no state (a two-way merge without deletes, which is always safe).
const stateVersion = 1

// File names inside DIR/.syncspace.
const (
	stateDirName  = ".syncspace"
	stateFileName = "state.json"
	lockFileName  = "lock"
	tmpPrefix     = ".syncspace-tmp-"
)

// baseEntry is one path as it was when both sides last agreed on it.
type baseEntry struct {
	Path string `json:"p"`           // server path (NFC)
	Dir  bool   `json:"d,omitempty"` // a directory
	Hash string `json:"h,omitempty"` // content hash of a file
	// Name is the last segment of the local name (NFC) when it differs from Path's,
	// only in case: the spelling this disk had when the sides last agreed. "" means
	// the same as Path's. A local name whose case differs from it was renamed here.
	Name string `json:"n,omitempty"`
}

// syncedBase is the base of server path p (a directory, or a file with content hash)
// synced with the local path lpath ("" or the same spelling: none to remember).
func syncedBase(p, lpath string, dir bool, hash string) baseEntry {
	return baseEntry{Path: p, Dir: dir, Hash: hash, Name: localName(p, lpath)}
}

// localName is the Name of a base at server path p synced with local path lpath.
func localName(p, lpath string) string {
	if lpath == "" {
		return ""
	}
	// Clean leaves an ASCII path as it is (its own NFC form) or refuses it: skipped.
	if !isASCII(lpath) {
		if c, err := pathrule.Clean(lpath); err == nil {
			lpath = c
		}
	}
	if n := pathrule.Base(lpath); n != pathrule.Base(p) {
		return n
	}
	return ""
}

// isASCII reports whether s has only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// name is the last segment of the local name as it was when the sides last agreed.
func (b baseEntry) name() string {
	if b.Name != "" {
		return b.Name
	}
	return pathrule.Base(b.Path)
}

// localEntry is the last observation of one local path, used as a hash cache: the
// content is rehashed only when size, mtime or inode changed.
type localEntry struct {
	Path    string `json:"p"` // path on disk, relative to DIR, '/'-separated
	Dir     bool   `json:"d,omitempty"`
	Size    int64  `json:"s,omitempty"`
	MtimeNs int64  `json:"m,omitempty"`
	Ino     uint64 `json:"i,omitempty"`
	Hash    string `json:"h,omitempty"`
	// At is when Hash was computed (Unix ns). A hash taken within the racy window of
	// the file's mtime is not trusted later: the file may have changed again within
	// the same mtime tick (git's "racily clean" problem).
	At int64 `json:"a,omitempty"`
}

// How long after its mtime a file's hash must have been taken to be reused on an
// unchanged stat: racyWindow in general (FAT stores mtimes in 2-second steps, network
// file systems take them from another machine's clock), fineRacyWindow for a file
// whose mtime the local kernel stamped at the resolution of its tick (fsys.Times.Fine:
// ext4, XFS, Btrfs, tmpfs, APFS, …). A write after the hash gets an mtime no earlier
// than one tick (at most 10 ms, HZ=100) before the hash was taken, so it differs from
// an mtime fineRacyWindow or more before it.
const (
	racyWindow     = 2 * time.Second
	fineRacyWindow = 50 * time.Millisecond
)

// windowFor is the racy window of the file fi describes (a fresh stat).
func (e disk) windowFor(fi fs.FileInfo) time.Duration {
	if e.times.Fine(fi) {
		return fineRacyWindow
	}
	return racyWindow
}

// cacheFor returns l's hash for the fresh observation now, or "" when the file must be
// hashed again: size, mtime or inode changed, or the hash was taken less than window
// after the mtime (an mtime later than the hash, from a clock ahead of this one,
// included).
func (l localEntry) cacheFor(now localEntry, window time.Duration) string {
	if l.Hash == "" || l.Path != now.Path || !l.sameStat(now) || l.At-l.MtimeNs < int64(window) {
		return ""
	}
	return l.Hash
}

// sameStat reports whether two observations of a file have the same size, mtime and
// inode (so the cached hash is still good).
func (l localEntry) sameStat(o localEntry) bool {
	return l.Dir == o.Dir && l.Size == o.Size && l.MtimeNs == o.MtimeNs && l.Ino == o.Ino
}

// persisted is the content of the state file (a JSON object: statefile.go).
type persisted struct {
	Version  int                   `json:"version"`
	Root     string                `json:"root"`
	ClientID string                `json:"client_id"`
	Epoch    string                `json:"epoch"`
	Seq      int64                 `json:"seq"`
	Base     map[string]baseEntry  `json:"base"`
	Local    map[string]localEntry `json:"local"`
	// Unflushed, when set, says the base may not be on the disk yet (flushmark.go).
	Unflushed *unflushedMark `json:"unflushed,omitempty"`
}

// loadState reads the state file; a missing file gives an empty state, and so does a
// damaged or foreign one (found reports whether a usable file was read).
func loadState(dir string) (p *persisted, found bool, err error) {
	empty := &persisted{Base: map[string]baseEntry{}, Local: map[string]localEntry{}}
	f, err := os.Open(filepath.Join(dir, stateFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return empty, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read state: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	q, err := decodeStateOf(f, size)
	if err == nil && q.Version == markedStateVersion && q.Unflushed != nil {
		q.Version = stateVersion // a marked state: the engine clears the mark
	}
	if err != nil || q.Version != stateVersion {
		// A damaged or foreign state file: start over without a base (safe merge).
		return empty, false, nil
	}
	if q.Base == nil {
		q.Base = map[string]baseEntry{}
	}
	if q.Local == nil {
		q.Local = map[string]localEntry{}
	}
	return q, true, nil
}

// saveState writes the state file atomically: temp file, fsync, rename, fsync dir.
// syncAll, when non-nil, runs first (syncfs) so that every file the base refers to is
// on disk before the base that vouches for it; the state is encoded into the temp file
// meanwhile, and the state file is not replaced before syncAll has returned, nor at
// all when it failed (the old state stays: the next pass compares again).
func saveState(dir string, p *persisted, syncAll func() error) error {
	synced := make(chan error, 1)
	if syncAll != nil {
		go func() { synced <- syncAll() }()
	} else {
		synced <- nil
	}
	p.Version = stateVersion
	if p.Unflushed != nil {
		p.Version = markedStateVersion
	}
	write := func(w io.Writer) error { return encodeState(w, p) }
	if err := writeStateFile(filepath.Join(dir, stateFileName), write, synced); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// lockDir takes an exclusive lock on DIR/.syncspace/lock so that two clients never
// work on one folder at once. The returned file holds the lock until closed.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state: %w", err)
	}
	if err := fsys.LockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("another client is already syncing this folder (%s is locked)", filepath.Join(dir, lockFileName))
	}
	return f, nil
}
