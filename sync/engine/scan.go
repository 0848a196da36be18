package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
)

// statIno returns fi's file id (inode), 0 where the platform has none (fsys.FileID).
func statIno(fi fs.FileInfo) uint64 { return fsys.FileID(fi) }

// observe turns a FileInfo (from Lstat) of the local path p into a localEntry without
// its hash.
func observe(p string, fi fs.FileInfo) localEntry {
	if fi.IsDir() {
		return localEntry{Path: p, Dir: true}
	}
	return localEntry{Path: p, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), Ino: statIno(fi)}
}

// hashFile returns the lowercase hex SHA-256 of the regular file p under the root.
// A file large enough for a delta is also cut into chunks in the same read (package
// chunk's Sum, on several cores), its list kept for a delta of this content, unless
// the list of likely (the hash it had, when only a re-check is due) is known.
func (e disk) hashFile(p, likely string) (string, error) {
	f, err := e.root.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && e.chunks != nil && fi.Size() >= chunk.MinDeltaSize {
		s := chunk.NewSum()
		if _, known := e.chunks.get(likely, fi.Size()); known {
			s = chunk.NewHashSum()
		}
		_, err := s.ReadFrom(f)
		sum, list := s.Finish()
		if err != nil {
			return "", err
		}
		h := hex.EncodeToString(sum[:])
		if list != nil {
			e.chunks.put(h, list, s.Prints())
		}
		return h, nil
	}
	return fsys.SHA256Hex(f)
}

// likelyHash is the hash a file observed as now probably has: the cached one when the
// stat did not change (a re-check of a hash taken too soon after the mtime), else "".
func likelyHash(ok bool, cached, now localEntry) string {
	if ok && cached.Path == now.Path && cached.sameStat(now) {
		return cached.Hash
	}
	return ""
}

// scanOut collects the local entries found by a scan.
type scanOut struct {
	entries map[string]localEntry // key → entry
	others  map[string]string     // key → path of a symlink or special file
	// unsynced counts local names kept but not synced: refused by the path rules, or
	// equal to another name under case folding (symlinks are by design, not counted).
	unsynced int
	// held counts files that exist but could not be read (busy), and directories that
	// could not be listed: a later pass retries.
	held int
	// unread holds the directories that could not be listed (permission denied): what
	// lies under them is kept as last seen (keepUnread), never taken for deleted.
	unread []string
	// linked holds the file ids of the files found with more than one name (hard
	// links): a change made through one name is a change under the others too.
	linked map[uint64]bool
}

// scan walks the local subtree at the '/'-separated path under ("" = all of DIR) and
// returns what it holds, hashing only files whose size, mtime or inode changed since
// the cached observation. Stale temp files of the client are removed. Names the server
// would refuse are reported once and left alone.
func (e disk) scan(under string) (*scanOut, error) {
	out := &scanOut{others: map[string]string{}, linked: map[uint64]bool{}}
	start := "."
	if under != "" {
		start = under
	}
	e.mu.Lock()
	ig := e.ig
	if under == "" {
		out.entries = make(map[string]localEntry, len(e.local)) // about the last scan's size
	} else {
		out.entries = map[string]localEntry{}
	}
	e.mu.Unlock()
	err := fs.WalkDir(fsys.IOFS(e.root), start, func(p string, d fs.DirEntry, err error) error {
		return e.visit(out, ig, start, p, d, err)
	})
	if err != nil {
		return nil, fmt.Errorf("scan %q: %w", start, err)
	}
	if len(out.unread) > 0 {
		e.mu.Lock()
		e.keepUnread(out)
		e.mu.Unlock()
	}
	return out, nil
}

// keepUnread keeps, under each directory of out.unread, the last observation of every
// file and directory the client knows there, and leaves alone (out.others) a synced
// path it has none of: a directory that cannot be listed now is not one whose
// files were deleted. The caller holds e.mu.
func (e *book) keepUnread(out *scanOut) {
	for _, p := range out.unread {
		out.held++
		cp, err := pathrule.Clean(p)
		if err != nil {
			continue // never scanned: refused names are skipped before their listing
		}
		pk := pathrule.FoldKey(cp)
		for k, old := range e.local {
			if _, seen := out.entries[k]; !seen && k != pk && pathrule.Within(k, pk) {
				out.entries[k] = old
			}
		}
		for k, b := range e.base {
			if _, seen := out.entries[k]; !seen && k != pk && pathrule.Within(k, pk) {
				out.others[k] = b.Path
			}
		}
	}
}

// visit is scan's step on one walked path p (start is where the walk began).
func (e disk) visit(out *scanOut, ig *ignorer, start, p string, d fs.DirEntry, err error) error {
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if p == start {
				return fs.SkipAll
			}
			return nil
		}
		if p == start {
			return err
		}
		if d != nil && d.IsDir() {
			// Its listing failed (permission denied): its entries stay as last seen.
			out.unread = append(out.unread, p)
			e.reportOnce(p, "cannot list local directory now, its files are kept as they were and retried later", err)
			return nil
		}
		e.log.Warn("cannot read local path", "path", p, "err", err)
		return nil
	}
	if p == "." {
		e.watchDir("")
		return nil
	}
	name := d.Name()
	if strings.HasPrefix(name, tmpPrefix) && d.Type().IsRegular() {
		// A temp file left by a killed download: never synced, removed.
		_ = e.root.Remove(p)
		return nil
	}
	isDir := d.IsDir()
	skip := func() error {
		if isDir {
			return fs.SkipDir
		}
		return nil
	}
	if ig.Ignored(p, isDir) {
		return skip()
	}
	cp, cerr := pathrule.Clean(p)
	if cerr == nil && e.aliasRefused(cp) {
		cerr = errShortAlias
	}
	if cerr != nil {
		out.unsynced++
		e.reportOnce(p, "local name is not allowed by the server, kept but not synced", cerr)
		return skip()
	}
	key := pathrule.FoldKey(cp)
	if !isDir && !d.Type().IsRegular() {
		out.others[key] = p
		e.reportOnce(p, "symlink or special file, not synced", nil)
		return nil
	}
	if prev, ok := out.entries[key]; ok && !e.twinWins(out, key, cp, p, prev) {
		return skip()
	}
	fi, ierr := d.Info()
	if ierr != nil {
		return nil // vanished meanwhile
	}
	le := observe(p, fi)
	if isDir {
		e.watchDir(p) // before its entries are read: nothing created later is missed
		out.entries[key] = le
		return nil
	}
	if le.Ino != 0 && fsys.LinkCount(fi) > 1 {
		out.linked[le.Ino] = true
	}
	e.observeFile(out, key, p, le, e.windowFor(fi))
	return nil
}

// twinWins settles two local names that the server sees as one (case or
// normalization): p (clean form cp) against prev, found before under the same key. The
// one already synced wins, the other is reported and kept. It reports whether p wins
// (prev is then dropped from out).
func (e disk) twinWins(out *scanOut, key, cp, p string, prev localEntry) bool {
	e.mu.Lock()
	b, inBase := e.base[key]
	e.mu.Unlock()
	if inBase && b.Path == cp && prev.Path != cp {
		delete(out.entries, key)
		out.unsynced++
		e.reportOnce(prev.Path, "name differs only in case or Unicode form from "+p+", kept but not synced", nil)
		return true
	}
	out.unsynced++
	e.reportOnce(p, "name differs only in case or Unicode form from "+prev.Path+", kept but not synced", nil)
	return false
}

// observeFile records the regular file p (key, fresh stat le) in out, hashing it
// unless the cached observation's hash still holds (window: the file's racy window).
// A file that cannot be read now is never taken for a delete: the last observation
// stands, or the key is left alone.
func (e disk) observeFile(out *scanOut, key, p string, le localEntry, window time.Duration) {
	e.mu.Lock()
	old, ok := e.local[key]
	e.mu.Unlock()
	if h := old.cacheFor(le, window); ok && h != "" {
		le.Hash, le.At = h, old.At
		out.entries[key] = le
		return
	}
	if ok && e.deferHash(key, old, le) {
		out.entries[key] = le // unhashed: its upload reads it once (deltastream.go)
		return
	}
	at := time.Now().UnixNano()
	h, herr := e.hashFile(p, likelyHash(ok, old, le))
	if herr != nil {
		if errors.Is(herr, fs.ErrNotExist) || fsys.IsNotDir(herr) {
			return // vanished meanwhile
		}
		// There but unreadable now (on Windows typically held open by another
		// program: a sharing violation). Never a delete: the last observation stands,
		// or the key is left alone this pass.
		out.held++
		e.reportOnce(p, "cannot read local file now (in use by another program?), retried later", herr)
		if ok && old.Path == p {
			out.entries[key] = old
		} else {
			out.others[key] = p
		}
		return
	}
	le.Hash, le.At = h, at
	out.entries[key] = le
}

// statLocal observes one local path now (nil if absent or not a regular file or
// directory), reusing the cached hash when the stat matches.
func (e disk) statLocal(p string, cached *localEntry) (*localEntry, error) {
	fi, err := e.root.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || fsys.IsNotDir(err) {
			return nil, nil
		}
		return nil, err
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, errOther
	}
	le := observe(p, fi)
	if le.Dir {
		return &le, nil
	}
	if cached != nil {
		if h := cached.cacheFor(le, e.windowFor(fi)); h != "" {
			le.Hash, le.At = h, cached.At
			return &le, nil
		}
	}
	le.At = time.Now().UnixNano()
	var likely string
	if cached != nil {
		likely = likelyHash(true, *cached, le)
	}
	if le.Hash, err = e.hashFile(p, likely); err != nil {
		return nil, err
	}
	return &le, nil
}

// errOther marks a symlink or special file where a file was expected.
var errOther = errors.New("symlink or special file")

// reportOnce logs that a local path cannot be synced, once per path per run.
func (e disk) reportOnce(p, msg string, err error) {
	e.mu.Lock()
	done := e.reported[p]
	e.reported[p] = true
	e.mu.Unlock()
	if done {
		return
	}
	if err != nil {
		e.log.Warn(msg, "path", p, "reason", err.Error())
	} else {
		e.log.Warn(msg, "path", p)
	}
}

// loadIgnore (re)reads DIR/.syncignore; it reports whether the rules changed.
func (e disk) loadIgnore() bool {
	b, err := e.root.ReadFile(IgnoreFileName)
	if err != nil {
		b = nil
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	e.mu.Lock()
	defer e.mu.Unlock()
	if h == e.igHash {
		return false
	}
	e.igHash = h
	e.ig = newIgnorer(b)
	return true
}

// scanAll reloads the ignore rules and scans all of DIR, then checks that the root
// is still the directory being synced (a scan of a vanished or replaced root must not
// be taken for a tree of deletions).
func (e disk) scanAll() (*scanOut, error) {
	e.loadIgnore()
	sc, err := e.scan("")
	if err != nil {
		return nil, err
	}
	if err := e.checkRoot(); err != nil {
		return nil, err
	}
	return sc, nil
}
