package tenants

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// DeleteOptions qualify a delete. IfMatch (a file's hash) and IfSeq (nothing under
// the path changed after that seq) are preconditions; IfSeq is checked when it is
// above 0 or HasIfSeq is set (an explicit if_seq=0, which an existing path always
// fails: it was written after seq 0). Recursive allows deleting a non-empty directory.
type DeleteOptions struct {
	Recursive bool
	IfMatch   string
	IfSeq     int64
	HasIfSeq  bool
	Source    Source
}

// Delete removes the file or directory at path and returns the seq of its one Delete
// event. Each deleted file's content is kept as a version. A non-empty directory
// without Recursive is conflict; a missing path is not_found.
func (s *Space) Delete(ctx context.Context, path string, o DeleteOptions) (int64, error) {
	p, err := pathrule.Clean(path)
	if err != nil {
		return 0, err
	}
	if err := s.writable(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return 0, err
	}
	e, err := s.lookupExact(ctx, p)
	if err != nil {
		return 0, err
	}
	if e == nil {
		return 0, protocol.Errorf(protocol.CodeNotFound, "no such file")
	}
	if o.IfMatch != "" && (e.IsDir || !strings.EqualFold(o.IfMatch, e.Hash)) {
		return 0, protocol.Errorf(protocol.CodePreconditionFailed, "the current content differs")
	}
	if o.IfSeq > 0 || o.HasIfSeq {
		changed, err := s.changedSince(ctx, p, o.IfSeq)
		if err != nil {
			return 0, err
		}
		if changed {
			return 0, protocol.Errorf(protocol.CodePreconditionFailed, "changed after if_seq")
		}
	}
	files := []*entry{}
	var seen subtree
	if e.IsDir {
		under, err := s.reg.index.Subtree(ctx, s.id, p)
		if err != nil {
			return 0, internal("read index", err)
		}
		seen.n = int64(len(under))
		for _, c := range under {
			if !c.IsDir {
				files = append(files, c)
			}
			seen.maxSeq = max(seen.maxSeq, c.Seq)
		}
		if seen.n > 0 && !o.Recursive {
			return 0, protocol.Errorf(protocol.CodeConflict, "the directory is not empty")
		}
	} else {
		files = append(files, e)
	}
	return s.deleteLocked(ctx, e, files, seen, o.Source)
}

// subtree is what a delete found under a directory: n entries, the newest written by
// maxSeq.
type subtree struct{ n, maxSeq int64 }

// deleteLocked moves the files into versions/, removes p from disk and commits one
// Delete event; the entry e and what lies under it (seen) must be as the caller
// read them. The caller holds s.mu.
func (s *Space) deleteLocked(ctx context.Context, e *entry, files []*entry, seen subtree, src Source) (int64, error) {
	type kept struct {
		id string
		e  *entry
	}
	var moved []kept
	undo := func() {
		for _, k := range moved {
			_ = makeParentsOnDisk(s.blobs, k.e.Path)
			if err := s.blobs.RestoreVersion(k.id, k.e.Hash, k.e.Path, true); err != nil {
				s.log.Error("undo failed delete", "err", err)
			}
		}
	}
	for _, f := range files {
		id := newID()
		err := s.blobs.KeepVersion(f.Path, f.Hash, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone from disk already: nothing to keep
		}
		if err != nil {
			undo()
			return 0, diskErr("keep version", err)
		}
		moved = append(moved, kept{id, f})
	}
	if e.IsDir {
		if err := s.blobs.RemoveAll(e.Path); err != nil {
			undo()
			return 0, internal("remove directory", err)
		}
	}
	// One fsync per directory: the kept versions (if any), and the parent that lost
	// the name.
	if len(moved) > 0 {
		if err := s.blobs.SyncVersions(); err != nil {
			undo()
			return 0, internal("sync versions", err)
		}
	}
	if err := s.blobs.SyncDir(pathrule.Parent(e.Path)); err != nil {
		undo()
		return 0, diskErr("sync directory", err)
	}
	var seq int64
	_, err := s.cm.write(ctx, src, func(w *wtx) error {
		if err := w.expectEntry(e.Path, e); err != nil {
			return err
		}
		if e.IsDir {
			if err := w.expectTree(e.Path, seen.n, seen.maxSeq); err != nil {
				return err
			}
		}
		for _, k := range moved {
			if err := w.addVersion(k.id, k.e.Path, k.e, true); err != nil {
				return err
			}
		}
		var err error
		if seq, err = w.event(protocol.OpDelete, "", e.Meta()); err != nil {
			return err
		}
		return w.removeTree(e.Path)
	})
	if err != nil {
		if e.IsDir {
			_, _ = s.blobs.Mkdir(e.Path)
		}
		undo()
		return 0, err
	}
	s.rc.markOwn(nil, e.Path)
	Delta{s}.forget(ctx, files)
	return seq, nil
}

// makeParentsOnDisk creates the parent directories of p in the tenant's content b
// (used to undo).
func makeParentsOnDisk(b Blobs, p string) error {
	parent := pathrule.Parent(p)
	if parent == "" {
		return nil
	}
	return b.MkdirAll(parent)
}

// changedSince reports whether anything at or under p changed after seq (by the
// change log). A seq older than the retained log counts as changed.
func (s *Space) changedSince(ctx context.Context, p string, seq int64) (bool, error) {
	oldest, head, err := s.reg.index.ChangeBounds(ctx, s.id)
	if err != nil {
		return false, internal("read change log", err)
	}
	if seq > head {
		return true, nil
	}
	if seq < head && seq+1 < oldest {
		return true, nil
	}
	changed, err := s.reg.index.ChangedAfter(ctx, s.id, p, seq)
	if err != nil {
		return false, internal("read change log", err)
	}
	return changed, nil
}

// Mkdir creates the directory at path (and missing parents). created is false when
// the directory already existed (nothing changes). A file at path or at a parent is
// conflict.
func (s *Space) Mkdir(ctx context.Context, path string, src Source) (protocol.Metadata, bool, error) {
	p, err := pathrule.Clean(path)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	if err := s.writable(); err != nil {
		return protocol.Metadata{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return protocol.Metadata{}, false, err
	}
	cur, missing, err := s.checkTarget(ctx, p)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	if cur != nil {
		if !cur.IsDir {
			return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeConflict, "a file exists at this path")
		}
		return cur.Meta(), false, nil
	}
	if err := s.cm.checkEntries(true, len(missing)); err != nil {
		return protocol.Metadata{}, false, err
	}
	if err := s.cm.ensureFree(ctx, 0); err != nil {
		return protocol.Metadata{}, false, err
	}
	created, err := s.cm.makeParents(append(missing, p))
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	meta := protocol.Metadata{Path: p, Modified: time.Now().UTC(), IsDirectory: true}
	_, err = s.cm.write(ctx, src, func(w *wtx) error {
		if err := w.addParents(missing); err != nil {
			return err
		}
		seq, err := w.event(protocol.OpCreate, "", meta)
		if err != nil {
			return err
		}
		meta.Seq = seq
		return w.put(meta, nil)
	})
	if err != nil {
		s.cm.removeDirs(created)
		return protocol.Metadata{}, false, err
	}
	s.rc.markOwn(nil, created...)
	return meta, true, nil
}

// Move renames from to to (a file or a whole directory), keeping hash, size and
// modified and carrying versions along; missing parents of to are created. to must not
// exist, except that a move may change only the case of a name. ifMatch, when set, is
// the source's expected hash.
func (s *Space) Move(ctx context.Context, from, to, ifMatch string, src Source) (protocol.Metadata, error) {
	f, err := pathrule.Clean(from)
	if err != nil {
		return protocol.Metadata{}, err
	}
	t, err := pathrule.Clean(to)
	if err != nil {
		return protocol.Metadata{}, err
	}
	if err := s.writable(); err != nil {
		return protocol.Metadata{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return protocol.Metadata{}, err
	}
	e, caseOnly, missing, err := s.checkMove(ctx, f, t, ifMatch)
	if err != nil {
		return protocol.Metadata{}, err
	}
	created, err := s.cm.makeParents(missing)
	if err != nil {
		return protocol.Metadata{}, err
	}
	if err := s.blobs.Move(f, t, !caseOnly); err != nil {
		s.cm.removeDirs(created)
		if errors.Is(err, fs.ErrExist) {
			return protocol.Metadata{}, protocol.Errorf(protocol.CodeConflict, "an unindexed file exists at the target")
		}
		if errors.Is(err, fs.ErrNotExist) {
			return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "the source vanished from disk")
		}
		return protocol.Metadata{}, diskErr("rename", err)
	}
	meta := e.Meta()
	meta.Path = t
	_, err = s.cm.write(ctx, src, func(w *wtx) error {
		if err := w.addParents(missing); err != nil {
			return err
		}
		if err := w.expectEntry(f, e); err != nil {
			return err
		}
		if !caseOnly {
			if err := w.expectEntry(t, nil); err != nil {
				return err
			}
		}
		seq, err := w.event(protocol.OpMove, f, meta)
		if err != nil {
			return err
		}
		meta.Seq = seq
		return w.moveTree(f, t, seq)
	})
	if err != nil {
		if rerr := s.blobs.Move(t, f, !caseOnly); rerr != nil {
			s.log.Error("undo failed move", "err", rerr)
		}
		s.cm.removeDirs(created)
		return protocol.Metadata{}, err
	}
	s.rc.markOwn(nil, append([]string{f, t}, created...)...)
	return meta, nil
}

// checkMove checks a move of f to t in the commit section: the source exists (and
// has hash ifMatch if set), the target is not the source, not inside it, and free (or
// the source's name in another case); missing are the target's parents to create.
func (s *Space) checkMove(ctx context.Context, f, t, ifMatch string) (e *entry, caseOnly bool, missing []string, err error) {
	e, err = s.lookupExact(ctx, f)
	if err != nil {
		return nil, false, nil, err
	}
	if e == nil {
		return nil, false, nil, protocol.Errorf(protocol.CodeNotFound, "no such file")
	}
	if ifMatch != "" && (e.IsDir || !strings.EqualFold(ifMatch, e.Hash)) {
		return nil, false, nil, protocol.Errorf(protocol.CodePreconditionFailed, "the current content differs")
	}
	caseOnly = pathrule.FoldKey(f) == pathrule.FoldKey(t)
	if f == t {
		return nil, false, nil, protocol.Errorf(protocol.CodeConflict, "source and target are the same")
	}
	if !caseOnly && pathrule.Within(pathrule.FoldKey(t), pathrule.FoldKey(f)) {
		return nil, false, nil, protocol.Errorf(protocol.CodeConflict, "cannot move a directory into itself")
	}
	if caseOnly {
		// Only the last segment may differ in case: the parents must stay.
		if pathrule.Parent(f) != pathrule.Parent(t) {
			return nil, false, nil, protocol.Errorf(protocol.CodeConflict, "a parent differs only in case")
		}
		return e, true, nil, nil
	}
	cur, missing, err := s.checkTarget(ctx, t)
	if err != nil {
		return nil, false, nil, err
	}
	if cur != nil {
		return nil, false, nil, protocol.Errorf(protocol.CodeConflict, "the target exists")
	}
	if err := s.cm.checkEntries(false, len(missing)); err != nil {
		return nil, false, nil, err
	}
	return e, false, missing, nil
}

// moveTree moves the entries of from and its subtree (and the versions kept of them)
// to live under to, and marks the moved entries as written by seq.
func (w *wtx) moveTree(from, to string, seq int64) error {
	return w.tx.MoveTree(from, to, seq)
}
