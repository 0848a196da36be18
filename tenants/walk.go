package tenants

import (
	"context"
	"errors"
	"io/fs"
	"sort"
	"time"

	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/index"
)

// reconcile compares the directory dir ("" = root) on disk with the index and commits
// an event for every difference: Create for new files and directories, Update for
// changed content, Delete for what vanished. With deep it descends into every
// subdirectory, else only into new ones. It skips (and logs) symlinks, special files
// and names the path rules refuse, and it skips the comparison of a directory whose
// stamp shows it unchanged since a comparison found it equal to the index
// (dirstamp.go). unstable reports files that changed while hashed; the caller should
// look again later.
//
// While the space's watcher runs, every directory the walk lists gets its watch first
// (the watcher's full scan is such a walk).
func (s *reconciler) reconcile(ctx context.Context, dir string, deep bool) (unstable bool, err error) {
	w := &walk{s: s, taken: time.Now().Add(-stampSlack).UnixNano()}
	_, w.head = s.Head()
	s.hmu.Lock()
	w.watch = s.w
	s.hmu.Unlock()
	unstable, err = w.dir(ctx, dir, deep)
	w.flush(context.WithoutCancel(ctx))
	return unstable, err
}

// walk is one reconcile of a directory and of its subdirectories: the time and head
// seq of its stamps, the stamps waiting to be stored and the watcher to tell of each
// directory listed.
type walk struct {
	s      *reconciler
	taken  int64 // Unix ns, less stampSlack: before any listing of the walk
	head   int64 // the tenant's head seq before any listing of the walk
	stamps []index.DirStamp
	watch  *watcher // nil: none
}

// dir reconciles the directory dir (and with deep its subdirectories): skipped when
// its stamp matches, else compared.
func (w *walk) dir(ctx context.Context, dir string, deep bool) (unstable bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s := w.s
	if w.watch != nil {
		w.watch.watchDir(dir) // before the listing: a later change has its event
	}
	disk, err := s.rc.readDisk(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, blob.ErrNotDir) {
			return false, nil // the parent's reconcile deletes it
		}
		return false, err
	}
	sum, stampable := digestDir(dir, disk)
	var prev *dirStamp
	if stampable {
		if prev, err = w.storedStamp(ctx, dir); err != nil {
			return false, err
		}
	}
	if stampable && prev != nil && prev.digest == sum {
		s.start.skipped.Add(1)
		if !deep {
			return false, nil
		}
		return w.subdirs(ctx, disk)
	}
	s.start.compared.Add(1)
	unstable, changed, err := w.compare(ctx, dir, disk, deep, prev)
	if err != nil || unstable || !stampable {
		return unstable, err
	}
	if changed {
		// Stamped only if the index now holds exactly what the listing showed.
		if same, err := w.indexMatches(ctx, dir, disk); err != nil || !same {
			return false, err
		}
	}
	w.addStamp(ctx, dir, sum)
	return false, nil
}

// subdirs walks the subdirectories of a directory whose stamp matched.
func (w *walk) subdirs(ctx context.Context, disk map[string]*diskItem) (unstable bool, err error) {
	for _, fold := range sortedKeys(disk) {
		if d := disk[fold]; d.isDir {
			u, err := w.dir(ctx, d.path, true)
			unstable = unstable || u
			if err != nil {
				return unstable, err
			}
		}
	}
	return unstable, nil
}

func sortedKeys(m map[string]*diskItem) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compare compares the directory dir, as listed in disk, with its index entries and
// commits the differences, descending into new subdirectories (into all with deep);
// changed reports that it found any. prev is dir's stored
// stamp (nil if none): files changed since are hashed (forceHash).
func (w *walk) compare(ctx context.Context, dir string, disk map[string]*diskItem, deep bool, prev *dirStamp) (unstable, changed bool, err error) {
	s := w.s
	idx, err := s.rc.indexChildren(ctx, dir)
	if err != nil {
		return false, false, err
	}
	// Vanished or changed type (or case): one Delete each.
	for fold, e := range idx {
		d, ok := disk[fold]
		if ok && d.path == e.Path && d.isDir == e.IsDir {
			continue
		}
		changed = true
		if err := s.rc.applyDelete(ctx, e); err != nil {
			return unstable, changed, err
		}
		delete(idx, fold)
	}
	var batch []*fileChange // files to commit together (applyFiles)
	for _, fold := range sortedKeys(disk) {
		d, e := disk[fold], idx[fold]
		switch {
		case d.isDir && e == nil:
			changed = true
			ok, err := s.rc.applyCreateDir(ctx, d)
			if err != nil {
				return unstable, changed, err
			}
			if ok {
				u, err := w.dir(ctx, d.path, true)
				unstable = unstable || u
				if err != nil {
					return unstable, changed, err
				}
			}
		case d.isDir:
			if deep {
				u, err := w.dir(ctx, d.path, true)
				unstable = unstable || u
				if err != nil {
					return unstable, changed, err
				}
			}
		default:
			ch, u, err := s.rc.diffFile(d, e, forceHash(prev, d, e))
			unstable = unstable || u
			if err != nil {
				return unstable, changed, err
			}
			if ch != nil {
				changed = true
				batch = append(batch, ch)
			}
			if len(batch) >= reconcileBatch {
				if err := s.rc.applyFiles(ctx, batch); err != nil {
					return unstable, changed, err
				}
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		return unstable, changed, s.rc.applyFiles(ctx, batch)
	}
	return unstable, changed, nil
}

// indexMatches reports whether dir's index entries are exactly the children listed in
// disk, with the content they show (the comparison's own test: size and mtime, or a
// hash verified before).
func (w *walk) indexMatches(ctx context.Context, dir string, disk map[string]*diskItem) (bool, error) {
	idx, err := w.s.rc.indexChildren(ctx, dir)
	if err != nil || len(idx) != len(disk) {
		return false, err
	}
	for fold, d := range disk {
		e := idx[fold]
		if e == nil || e.Path != d.path || e.IsDir != d.isDir || (!d.isDir && !w.s.verified.sameContent(d, e)) {
			return false, nil
		}
	}
	return true, nil
}
