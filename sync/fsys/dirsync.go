// How a platform makes the folder's writes durable: one flush of the whole file
// system (SyncAll), or, where no call waits for that, an fsync of each file written
// (the engine's part) and of each directory whose entries change (dirSync, here).

package fsys

import (
	"io/fs"
	"os"
	"path"
)

// flushPlan tells, for the operating system goos, whether SyncAll makes every write
// to the file system durable (syncAll), and, where it cannot, whether Dir fsyncs the
// parent directories of the names it renames, links, removes and creates (dirSync),
// since the caller's fsync of each file does not make its new name durable.
//
//   - Linux (syncfs) and macOS (sync + F_FULLFSYNC): syncAll.
//   - Windows: neither (no flush of a volume without administrator rights, and a
//     directory cannot be flushed: NTFS journals the renames).
//   - FreeBSD, OpenBSD, NetBSD, DragonFly: sync(2) only schedules the writes and
//     returns before they are on disk (their manuals say so), and no syncfs exists:
//     dirSync, so that per-file fsync plus directory fsync make a rename durable.
func flushPlan(goos string) (syncAll, dirSync bool) {
	switch goos {
	case "linux", "darwin":
		return true, false
	case "windows":
		return false, false
	}
	return false, true
}

// dirSyncer fsyncs directories of a folder where the platform's plan says so
// (flushPlan's dirSync: on); when off, every method is the plain operation.
type dirSyncer struct {
	root *os.Root
	on   bool
}

// parents fsyncs the directories holding the names given (each once) when on; else
// it does nothing.
func (d dirSyncer) parents(names ...string) error {
	if !d.on {
		return nil
	}
	done := map[string]bool{}
	for _, n := range names {
		p := path.Dir(n)
		if done[p] {
			continue
		}
		done[p] = true
		if err := d.dir(p); err != nil {
			return err
		}
	}
	return nil
}

// dir fsyncs the directory name under the folder.
func (d dirSyncer) dir(name string) error {
	f, err := d.root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return Sync(f)
}

// mkdirAll is os.Root's MkdirAll that, when on, fsyncs the parent of each directory
// it creates (an existing directory costs one Lstat).
func (d dirSyncer) mkdirAll(name string, perm fs.FileMode) error {
	if !d.on {
		return d.root.MkdirAll(name, perm)
	}
	var missing []string
	for p := path.Clean(name); p != "." && p != "/"; p = path.Dir(p) {
		if fi, err := d.root.Lstat(p); err == nil && fi.IsDir() {
			break
		}
		missing = append(missing, p)
	}
	if err := d.root.MkdirAll(name, perm); err != nil || len(missing) == 0 {
		return err
	}
	return d.parents(missing...)
}
