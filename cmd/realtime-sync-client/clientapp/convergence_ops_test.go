//go:build linux

package clientapp

import (
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The names operations choose from: few, so that operations meet on the same paths.
var (
	convDirNames  = []string{"a", "b", "docs", "Deep"}
	convFileNames = []string{"f0.txt", "f1.txt", "f2.txt", "notes.md", "data.bin", "x"}
)

// step runs operation i on a random folder.
func (w *world) step(i int) {
	w.op = i
	if w.stopped >= 0 && i >= w.restartAt {
		w.restartStopped()
	}
	cc := w.cs[w.rng.Intn(len(w.cs))]
	switch r := w.rng.Intn(100); {
	case r < 22:
		w.createFile(cc)
	case r < 42:
		w.editFile(cc)
	case r < 50:
		w.deleteFile(cc)
	case r < 58:
		w.renameFile(cc)
	case r < 64 && *convCase:
		w.caseRename(cc)
	case r < 64:
		w.renameFile(cc)
	case r < 70:
		w.makeDir(cc)
	case r < 74:
		w.deleteDir(cc)
	case r < 81:
		w.moveDir(cc)
	case r < 94:
		w.concurrentEdit()
	default:
		w.stopOrRestart()
	}
}

func (cc *convClient) abs(rel string) string { return filepath.Join(cc.dir, filepath.FromSlash(rel)) }

// folder lists what is on a client's disk now (slash-separated relative paths),
// without .syncspace and the client's temp files.
func (w *world) folder(cc *convClient) (files, dirs []string) {
	filepath.WalkDir(cc.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == cc.dir {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, cc.dir+string(filepath.Separator)))
		switch {
		case strings.HasPrefix(d.Name(), ".syncspace"):
			if d.IsDir() {
				return filepath.SkipDir
			}
		case d.IsDir():
			dirs = append(dirs, rel)
		case d.Type().IsRegular():
			files = append(files, rel)
		}
		return nil
	})
	return files, dirs
}

func (w *world) pick(from []string) string { return from[w.rng.Intn(len(from))] }

func depth(rel string) int {
	if rel == "" {
		return 0
	}
	return strings.Count(rel, "/") + 1
}

// freeName picks one of names that no entry of dir on cc's disk equals under case
// folding ("" when all are taken).
func (w *world) freeName(cc *convClient, dir string, names []string) string {
	ents, _ := os.ReadDir(cc.abs(dir))
	var free []string
	for _, n := range names {
		taken := false
		for _, e := range ents {
			taken = taken || strings.EqualFold(e.Name(), n)
		}
		if !taken {
			free = append(free, n)
		}
	}
	if len(free) == 0 {
		return ""
	}
	return w.pick(free)
}

// parentDir picks an existing directory (or the root), sometimes with a new
// subdirectory under it.
func (w *world) parentDir(cc *convClient, fresh bool) string {
	_, dirs := w.folder(cc)
	parent := w.pick(append(dirs, ""))
	if fresh && depth(parent) < 3 && w.rng.Intn(3) == 0 {
		if n := w.freeName(cc, parent, convDirNames); n != "" {
			parent = path.Join(parent, n)
		}
	}
	return parent
}

func (w *world) createFile(cc *convClient) {
	parent := w.parentDir(cc, true)
	name := w.freeName(cc, parent, convFileNames)
	if name == "" {
		w.logf("%s create in %q: no free name", cc.name, parent)
		return
	}
	rel := path.Join(parent, name)
	what := cc.name + " create " + rel
	b, tmp, inPlace := w.content(what), w.tmpPath(), w.rng.Intn(2) == 0
	if err := os.MkdirAll(filepath.Dir(cc.abs(rel)), 0o755); err != nil {
		w.logf("%s: %v", what, err)
		return
	}
	var err error
	if inPlace {
		err = createInPlace(cc.abs(rel), b)
	} else {
		err = createByRename(tmp, cc.abs(rel), b)
	}
	if err == nil {
		w.led.wrote(b, what)
		if inPlace {
			w.led.passing(b[:len(b)/2], what)
		}
	}
	w.logf("%s (%d bytes, in place %v): %v", what, len(b), inPlace, err)
}

// createInPlace writes a new file through its name in two steps (a writer that takes
// its time).
func createInPlace(abs string, b []byte) error {
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	f.Write(b[:len(b)/2])
	f.Write(b[len(b)/2:])
	return f.Close()
}

// createByRename writes tmp and renames it to abs, never replacing.
func createByRename(tmp, abs string, b []byte) error {
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, abs, unix.RENAME_NOREPLACE)
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func (w *world) editFile(cc *convClient) {
	files, _ := w.folder(cc)
	if len(files) == 0 {
		w.createFile(cc)
		return
	}
	rel := w.pick(files)
	what := cc.name + " edit " + rel
	b, tmp := w.content(what), w.tmpPath()
	if w.rng.Intn(2) == 0 {
		w.logf("%s in place (%d bytes): %v", what, len(b), w.editInPlace(cc, rel, b, what))
		return
	}
	w.logf("%s by save (%d bytes): %v", what, len(b), w.save(cc, rel, tmp, b, what))
}

// save replaces rel by b the way editors save: a new file swapped in at the name in
// one atomic step (renameat2 RENAME_EXCHANGE), the old one then read and removed, so
// what the user replaced is exactly what stood at the name at that moment.
func (w *world) save(cc *convClient, rel, tmp string, b []byte, what string) error {
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, cc.abs(rel), unix.RENAME_EXCHANGE); err != nil {
		os.Remove(tmp)
		return err
	}
	w.led.wrote(b, what)
	w.led.destroyTree(tmp, what)
	return os.RemoveAll(tmp)
}

// editInPlace rewrites rel through an open file (read, truncate, write). If the client
// swapped another file in at the name meanwhile, the write went into the replaced
// file, which docs/client.md allows to be lost.
func (w *world) editInPlace(cc *convClient, rel string, b []byte, what string) error {
	f, err := os.OpenFile(cc.abs(rel), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	old, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	f.WriteAt(b[:len(b)/2], 0)
	f.WriteAt(b[len(b)/2:], int64(len(b)/2))
	var open, now unix.Stat_t
	unix.Fstat(int(f.Fd()), &open)
	err = unix.Lstat(cc.abs(rel), &now)
	w.led.wrote(b, what)
	w.led.passing(b[:len(b)/2], what)
	w.led.destroy(old, what)
	if err != nil || open.Ino != now.Ino {
		w.led.mayBeLost(b, what+": written into a file the client replaced meanwhile")
	}
	return nil
}

func (w *world) deleteFile(cc *convClient) {
	files, _ := w.folder(cc)
	if len(files) == 0 {
		return
	}
	rel := w.pick(files)
	what := cc.name + " delete " + rel
	if w.rng.Intn(2) == 0 {
		w.logf("%s (to trash): %v", what, w.toTrash(cc, rel, what))
		return
	}
	w.logf("%s (unlink): %v", what, w.unlink(cc, rel, what))
}

// toTrash moves rel out of the folder (a delete to the trash): what was at the name
// at that moment is what the user deleted.
func (w *world) toTrash(cc *convClient, rel, what string) error {
	tmp := w.tmpPath()
	if err := os.Rename(cc.abs(rel), tmp); err != nil {
		return err
	}
	w.led.destroyTree(tmp, what)
	return nil
}

// unlink deletes the file at rel after reading it. If the client swapped another file
// in between, the user deleted a content it never saw: the loss check is then blind.
func (w *world) unlink(cc *convClient, rel, what string) error {
	f, err := os.Open(cc.abs(rel))
	if err != nil {
		return err
	}
	defer f.Close()
	old, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	if err := os.Remove(cc.abs(rel)); err != nil {
		return err
	}
	w.led.destroy(old, what)
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st); st.Nlink != 0 {
		w.led.blind(what + ": deleted a file the client had just put there")
	}
	return nil
}

func (w *world) renameFile(cc *convClient) {
	files, _ := w.folder(cc)
	if len(files) == 0 {
		return
	}
	rel := w.pick(files)
	parent := w.parentDir(cc, false)
	name := w.freeName(cc, parent, append([]string{path.Base(rel)}, convFileNames...))
	if name == "" {
		return
	}
	to := path.Join(parent, name)
	w.logf("%s rename %s → %s: %v", cc.name, rel, to, renameNoReplace(cc, rel, to))
}

func renameNoReplace(cc *convClient, from, to string) error {
	return unix.Renameat2(unix.AT_FDCWD, cc.abs(from), unix.AT_FDCWD, cc.abs(to), unix.RENAME_NOREPLACE)
}

// caseRename renames a file or directory to the other case of its first letter.
func (w *world) caseRename(cc *convClient) {
	files, dirs := w.folder(cc)
	all := append(files, dirs...)
	if len(all) == 0 {
		return
	}
	rel := w.pick(all)
	base := path.Base(rel)
	first := base[:1]
	if up := strings.ToUpper(first); up != first {
		first = up
	} else {
		first = strings.ToLower(first)
	}
	to := path.Join(path.Dir(rel), first+base[1:])
	if to == rel {
		return
	}
	ents, _ := os.ReadDir(filepath.Dir(cc.abs(rel)))
	for _, e := range ents {
		if e.Name() != base && strings.EqualFold(e.Name(), base) {
			return // two spellings on this disk already
		}
	}
	w.logf("%s case rename %s → %s: %v", cc.name, rel, to, renameNoReplace(cc, rel, to))
}

func (w *world) makeDir(cc *convClient) {
	parent := w.parentDir(cc, true)
	if depth(parent) >= 4 {
		return
	}
	name := w.freeName(cc, parent, convDirNames)
	if name == "" {
		return
	}
	rel := path.Join(parent, name)
	w.logf("%s mkdir %s: %v", cc.name, rel, os.MkdirAll(cc.abs(rel), 0o755))
}

func (w *world) deleteDir(cc *convClient) {
	_, dirs := w.folder(cc)
	if len(dirs) == 0 {
		return
	}
	rel := w.pick(dirs)
	what := cc.name + " delete dir " + rel
	w.logf("%s: %v", what, w.toTrash(cc, rel, what))
}

// moveDir moves a directory with what it holds under another directory.
func (w *world) moveDir(cc *convClient) {
	_, dirs := w.folder(cc)
	if len(dirs) == 0 {
		return
	}
	rel := w.pick(dirs)
	var targets []string
	for _, d := range append(dirs, "") {
		if d != rel && !strings.HasPrefix(d, rel+"/") && depth(d) < 3 {
			targets = append(targets, d)
		}
	}
	parent := w.pick(targets)
	name := w.freeName(cc, parent, append([]string{path.Base(rel)}, convDirNames...))
	if name == "" {
		return
	}
	to := path.Join(parent, name)
	w.logf("%s move dir %s → %s: %v", cc.name, rel, to, renameNoReplace(cc, rel, to))
}

// concurrentEdit saves the same file on two folders at the same moment.
func (w *world) concurrentEdit() {
	i := w.rng.Intn(len(w.cs))
	j := (i + 1 + w.rng.Intn(len(w.cs)-1)) % len(w.cs)
	a, b := w.cs[i], w.cs[j]
	rel := w.sharedFile(a, b)
	if rel == "" {
		w.editFile(a)
		return
	}
	var wg sync.WaitGroup
	for _, cc := range []*convClient{a, b} {
		what := cc.name + " concurrent edit " + rel
		content, tmp, inPlace := w.content(what), w.tmpPath(), w.rng.Intn(3) == 0
		wg.Go(func() {
			var err error
			if inPlace {
				err = w.editInPlace(cc, rel, content, what)
			} else {
				err = w.save(cc, rel, tmp, content, what)
			}
			w.logf("%s (in place %v): %v", what, inPlace, err)
		})
	}
	wg.Wait()
}

// sharedFile picks a file a and b both hold with the same content ("" if none).
func (w *world) sharedFile(a, b *convClient) string {
	files, _ := w.folder(a)
	var same []string
	for _, rel := range files {
		x, errA := os.ReadFile(a.abs(rel))
		y, errB := os.ReadFile(b.abs(rel))
		if errA == nil && errB == nil && string(x) == string(y) {
			same = append(same, rel)
		}
	}
	if len(same) == 0 {
		return ""
	}
	return w.pick(same)
}

func (w *world) stopOrRestart() {
	if w.stopped >= 0 {
		w.restartStopped()
		return
	}
	w.stopClient(w.rng.Intn(len(w.cs)))
}
