package tenants

import (
	"context"
	"errors"
	"io/fs"
	"sort"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
)

// diskItem is one child of a directory as found on disk.
type diskItem struct {
	path  string
	isDir bool
	size  int64
	mtime time.Time
	// With marked, the device, inode and (of a file) ctime in Unix ns (fsys.StatMark).
	marked   bool
	dev, ino uint64
	ctime    int64
}

// verifiedKey remembers a file whose mtime changed on disk while its content did not,
// so that rescans do not hash it again.
type verifiedKey struct {
	path  string
	size  int64
	mtime int64
}

type verifiedSet struct {
	mu sync.Mutex
	m  map[verifiedKey]string // → hash
}

func (v *verifiedSet) get(k verifiedKey) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	h, ok := v.m[k]
	return h, ok
}

func (v *verifiedSet) put(k verifiedKey, h string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) > 10000 {
		v.m = map[verifiedKey]string{}
	}
	v.m[k] = h
}

// fileChange is a file found on disk whose content differs from its index entry
// (old, nil if none), hashed and waiting for its commit (applyFiles).
type fileChange struct {
	old  *entry
	st   *diskItem
	hash string
}

// reconcileBatch is how many file changes one reconcile commits together.
const reconcileBatch = 256

// reconcileFile compares the file d found on disk with its index entry e (nil: none)
// and commits a Create or Update if its content differs (diffFile, force as there).
// unstable reports a file that changed while hashed.
func (s *reconciler) reconcileFile(ctx context.Context, d *diskItem, e *entry, force bool) (unstable bool, err error) {
	ch, unstable, err := s.rc.diffFile(d, e, force)
	if err != nil || ch == nil {
		return unstable, err
	}
	return false, s.rc.applyFiles(ctx, []*fileChange{ch})
}

// diffFile compares the file d found on disk with its index entry e (nil: none) and
// returns the change to commit if its content differs: it hashes the file unless
// (without force) size and mtime match e or the content was verified before.
// unstable reports a file that changed while hashed.
func (s *reconciler) diffFile(d *diskItem, e *entry, force bool) (ch *fileChange, unstable bool, err error) {
	if !force && s.verified.sameContent(d, e) {
		return nil, false, nil
	}
	hash, st, err := s.rc.hashStable(d.path)
	if errors.Is(err, blob.ErrUnstable) {
		return nil, true, nil
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if e != nil && hash == e.Hash {
		s.verified.put(verifiedKey{d.path, st.size, st.mtime.UnixNano()}, hash)
		return nil, false, nil
	}
	return &fileChange{old: e, st: st, hash: hash}, false, nil
}

// sameContent reports whether the file d found on disk shows the content of its
// entry e (nil: none): size and mtime match e, or its content was verified before.
func (v *verifiedSet) sameContent(d *diskItem, e *entry) bool {
	if e == nil {
		return false
	}
	if e.Size == d.size && e.Modified.Equal(d.mtime) {
		return true
	}
	h, ok := v.get(verifiedKey{d.path, d.size, d.mtime.UnixNano()})
	return ok && h == e.Hash
}

// readDisk lists dir's acceptable children by fold key.
func (s *reconciler) readDisk(dir string) (map[string]*diskItem, error) {
	ents, err := s.disk.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	out := make(map[string]*diskItem, len(ents))
	for _, de := range ents {
		p := de.Name()
		if dir != "" {
			p = dir + "/" + p
		}
		if c, err := pathrule.Clean(p); err != nil || c != p {
			s.rc.skip(p, "name refused by the path rules")
			continue
		}
		fi, err := de.Info() // the lstat of the entry
		if err != nil {
			continue // vanished meanwhile
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			s.rc.skip(p, "not a regular file or directory")
			continue
		}
		fold := pathrule.FoldKey(p)
		if _, dup := out[fold]; dup {
			s.rc.skip(p, "name differs only in case from another")
			continue
		}
		out[fold] = newDiskItem(p, fi)
	}
	return out, nil
}

// newDiskItem describes the file or directory p by its lstat fi.
func newDiskItem(p string, fi fs.FileInfo) *diskItem {
	d := &diskItem{path: p, isDir: fi.IsDir(), size: fi.Size(), mtime: fi.ModTime().UTC()}
	if m, ok := fsys.StatMark(fi); ok {
		d.marked, d.dev, d.ino, d.ctime = true, m.Dev, m.Ino, m.Ctime
	}
	return d
}

// skip logs a skipped disk entry once per path.
func (s *reconciler) skip(p, why string) {
	s.skipMu.Lock()
	if s.skipped == nil || len(s.skipped) > 10000 {
		s.skipped = map[string]bool{}
	}
	seen := s.skipped[p]
	s.skipped[p] = true
	s.skipMu.Unlock()
	if !seen {
		s.log.Warn("skipping file on disk", "path", p, "reason", why)
	}
}

func (s *reconciler) indexChildren(ctx context.Context, dir string) (map[string]*entry, error) {
	list, err := s.reg.index.Children(ctx, s.id, dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*entry, len(list))
	for _, e := range list {
		out[pathrule.FoldKey(e.Path)] = e
	}
	return out, nil
}

// hashStable hashes the regular file p and checks that it held still while it was
// read (blob.ErrUnstable if not).
func (s *reconciler) hashStable(p string) (string, *diskItem, error) {
	hash, fi, err := s.disk.HashStable(p)
	if err != nil {
		return "", nil, err
	}
	return hash, &diskItem{path: p, size: fi.Size(), mtime: fi.ModTime().UTC()}, nil
}

// sameEntry reports whether the index still holds e unchanged.
func (s *reconciler) sameEntry(ctx context.Context, e *entry) (bool, error) {
	cur, err := s.lookup(ctx, e.Path)
	if err != nil {
		return false, err
	}
	return sameAs(cur, e), nil
}

// sameAs reports whether the index entry cur (nil: none) is e unchanged.
func sameAs(cur, e *entry) bool {
	return cur != nil && cur.Path == e.Path && cur.Seq == e.Seq && cur.Hash == e.Hash && cur.IsDir == e.IsDir
}

// parentIndexed reports whether p's parent is the root or an indexed directory with
// exactly that name.
func (s *reconciler) parentIndexed(ctx context.Context, p string) (bool, error) {
	parent := pathrule.Parent(p)
	if parent == "" {
		return true, nil
	}
	e, err := s.lookup(ctx, parent)
	if err != nil {
		return false, err
	}
	return e != nil && e.IsDir && e.Path == parent, nil
}

// applyDelete commits a Delete for an index entry whose file or directory is gone
// from disk (or changed type), if that still holds in the commit section.
func (s *reconciler) applyDelete(ctx context.Context, e *entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, err := s.rc.sameEntry(ctx, e); err != nil || !ok {
		return err
	}
	if fi, err := s.disk.Lstat(e.Path); err == nil && fi.IsDir() == e.IsDir && (fi.IsDir() || fi.Mode().IsRegular()) {
		return nil // it is back
	}
	_, err := s.cm.write(ctx, Source{}, func(w *wtx) error {
		if _, err := w.event(protocol.OpDelete, "", e.Meta()); err != nil {
			return err
		}
		return w.removeTree(e.Path)
	})
	return err
}

// applyCreateDir indexes a directory found on disk; false if it no longer applies.
func (s *reconciler) applyCreateDir(ctx context.Context, d *diskItem) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, err := s.lookup(ctx, d.path); err != nil || cur != nil {
		return cur != nil && cur.IsDir && cur.Path == d.path, err
	}
	if ok, err := s.rc.parentIndexed(ctx, d.path); err != nil || !ok {
		return false, err
	}
	fi, err := s.disk.Lstat(d.path)
	if err != nil || !fi.IsDir() {
		return false, nil
	}
	meta := protocol.Metadata{Path: d.path, Modified: fi.ModTime().UTC(), IsDirectory: true}
	_, err = s.cm.write(ctx, Source{}, func(w *wtx) error {
		seq, err := w.event(protocol.OpCreate, "", meta)
		if err != nil {
			return err
		}
		meta.Seq = seq
		return w.put(meta, nil)
	})
	return err == nil, err
}

// applyFiles commits, in one write, a Create (old nil) or Update for each file found
// on disk with the given hash whose index entry and file are still as they were when
// it was hashed (the others are left to a later look).
func (s *reconciler) applyFiles(ctx context.Context, chs []*fileChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The current entries of the files and of the new ones' parents, in one query;
	// holding s.mu keeps them current until the commit.
	cur, err := s.lookupMany(ctx, changePaths(chs))
	if err != nil {
		return err
	}
	var metas []protocol.Metadata
	var olds []*entry
	for _, ch := range chs {
		if s.rc.stillApplies(ch, cur) {
			metas = append(metas, protocol.Metadata{Path: ch.st.path, Size: ch.st.size, Modified: ch.st.mtime, Hash: ch.hash})
			olds = append(olds, ch.old)
		}
	}
	if len(metas) == 0 {
		return nil
	}
	_, err = s.cm.write(ctx, Source{}, func(w *wtx) error {
		for i, meta := range metas {
			op := protocol.OpCreate
			if olds[i] != nil {
				op = protocol.OpUpdate
			}
			seq, err := w.event(op, "", meta)
			if err != nil {
				return err
			}
			meta.Seq = seq
			if err := w.put(meta, olds[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// changePaths lists the paths of the files of chs and of the parents of the new ones:
// those whose index entries stillApplies reads.
func changePaths(chs []*fileChange) []string {
	paths := make([]string, 0, len(chs)+1)
	parents := map[string]bool{}
	for _, ch := range chs {
		paths = append(paths, ch.st.path)
		if parent := pathrule.Parent(ch.st.path); ch.old == nil && parent != "" && !parents[parent] {
			parents[parent] = true
			paths = append(paths, parent)
		}
	}
	return paths
}

// stillApplies reports whether ch may be committed: the index entry (in cur, the
// entries of changePaths by fold key) is the one it was compared with (a new file's
// parent indexed), and the file on disk has not changed since it was hashed. The
// caller holds s.mu.
func (s *reconciler) stillApplies(ch *fileChange, cur map[string]*entry) bool {
	p := ch.st.path
	c := cur[pathrule.FoldKey(p)]
	if ch.old == nil {
		if c != nil {
			return false
		}
		if parent := pathrule.Parent(p); parent != "" {
			pe := cur[pathrule.FoldKey(parent)]
			if pe == nil || !pe.IsDir || pe.Path != parent {
				return false
			}
		}
	} else if !sameAs(c, ch.old) {
		return false
	}
	fi, err := s.disk.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != ch.st.size || !fi.ModTime().Equal(ch.st.mtime) {
		return false // changed again: a later event looks at it
	}
	return true
}

// reconcileName is reconcile for the one name p (a watcher event's name): it compares
// what the disk shows at p with p's index entry and commits the difference (a new
// directory is reconciled with its whole subtree). needDir asks the caller to
// reconcile p's directory instead: another name differing only in case is indexed,
// and only the whole listing decides which of them counts. With changed (an event
// named p), a file is hashed even if its size and mtime match the index (an in-place
// edit of the same size can keep the mtime: set back, or within one tick of the clock
// that stamps it), and an indexed directory is compared whole (it may be a new one put
// in place of the indexed one, whose children had no events of their own).
func (s *reconciler) reconcileName(ctx context.Context, p string, changed bool) (unstable, needDir bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, false, err
	}
	if c, err := pathrule.Clean(p); err != nil || c != p {
		s.rc.skip(p, "name refused by the path rules")
		return false, false, nil
	}
	var d *diskItem
	fi, err := s.disk.Lstat(p)
	switch {
	case err == nil && (fi.IsDir() || fi.Mode().IsRegular()):
		d = &diskItem{path: p, isDir: fi.IsDir(), size: fi.Size(), mtime: fi.ModTime().UTC()}
	case err == nil:
		s.rc.skip(p, "not a regular file or directory")
	case errors.Is(err, fs.ErrNotExist) || fsys.IsNotDir(err):
	default:
		return false, false, err
	}
	e, err := s.lookup(ctx, p)
	if err != nil {
		return false, false, err
	}
	if e != nil && e.Path != p {
		return false, true, nil
	}
	if e != nil && (d == nil || d.isDir != e.IsDir) {
		if err := s.rc.applyDelete(ctx, e); err != nil {
			return false, false, err
		}
		e = nil
	}
	switch {
	case d == nil:
		return false, false, nil
	case d.isDir:
		if e != nil {
			if !changed {
				return false, false, nil
			}
			u, err := s.rc.reconcile(ctx, d.path, true)
			return u, false, err
		}
		ok, err := s.rc.applyCreateDir(ctx, d)
		if err != nil || !ok {
			return false, false, err
		}
		u, err := s.rc.reconcile(ctx, d.path, true)
		return u, false, err
	}
	unstable, err = s.rc.reconcileFile(ctx, d, e, changed)
	return unstable, false, err
}
