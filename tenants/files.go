// A listing with content (GET /api/archive): each file of a snapshot opened as it is
// listed, without a lookup of its own while nothing changed.

package tenants

import (
	"context"
	"errors"
	"io"
	"io/fs"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Files is a space's files with their content, read from one listing snapshot. The
// zero value is unusable; get one from NewFiles.
type Files struct {
	s    *Space
	dirs bool // Each also gives the directories
}

// NewFiles returns sp's files.
func NewFiles(sp *Space) Files { return Files{s: sp} }

// WithDirs returns f whose Each also gives every directory of the listing (keep
// applies to them too), in its place in the path order, with a nil reader: what a
// client needs to take the archive as its listing (GET /api/archive?dirs=1).
func (f Files) WithDirs() Files {
	f.dirs = true
	return f
}

// Each streams the regular files under dir (every depth; and the directories with
// WithDirs), ordered by path, from one listing snapshot (List): head (if not nil)
// gets the snapshot's epoch and seq, then each gets every file's metadata and
// content, which always agree; keep (nil: every entry) skips the files it returns false for before they are opened. A file is opened
// by its listed metadata, without a lookup, while no write of the space has begun
// since the snapshot (holding the commit section shared, the disk then holds what the
// listing says); once one has, every later file is opened through Open and sent as it
// is now (a file gone since is skipped). r is valid only until each returns.
// not_found if dir is not a directory.
func (f Files) Each(ctx context.Context, dir string, keep func(path string) bool, head func(epoch string, seq int64) error, each func(m protocol.Metadata, r io.Reader) error) error {
	var gen uint64
	return f.s.snap.list(ctx, dir, true, func(sn snapshot) error {
		gen = sn.gen
		if head == nil {
			return nil
		}
		return head(sn.epoch, sn.seq)
	}, func(e *entry) error {
		if e.IsDir && !f.dirs || keep != nil && !keep(e.Path) {
			return nil
		}
		if e.IsDir {
			return each(e.Meta(), nil)
		}
		r, m, err := f.open(ctx, e, gen)
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			return nil // gone (or now a directory) since the snapshot
		}
		if err != nil {
			return err
		}
		defer r.Close()
		return each(m, r)
	})
}

// open opens the listed file e of the snapshot at generation gen: by its listed
// metadata while no write has begun since (single node: in a cluster other nodes
// write without this node's generation changing), else through Open.
func (f Files) open(ctx context.Context, e *entry, gen uint64) (io.ReadCloser, protocol.Metadata, error) {
	s := f.s
	if s.reg.inProcess {
		s.rc.checkName(ctx, e.Path) // may commit, which changes the generation
		s.mu.RLock()
		if s.isClosed() {
			s.mu.RUnlock()
			// Not not_found, which would skip the file: the archive must end cut.
			return nil, protocol.Metadata{}, internal("open file", errors.New("the space was closed during the listing"))
		}
		if s.meta.generation() == gen {
			r, err := s.blobs.Open(e.Path, e.Hash)
			s.mu.RUnlock()
			if errors.Is(err, fs.ErrNotExist) {
				return nil, protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such file")
			}
			if err != nil {
				return nil, protocol.Metadata{}, internal("open file", err)
			}
			return r, e.Meta(), nil
		}
		s.mu.RUnlock()
	}
	return s.Open(ctx, e.Path)
}
