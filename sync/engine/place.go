package engine

import (
	"errors"
	"io/fs"
	"sync/atomic"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Placing a download (placer, the last step of disk.downloadInto). A download onto a
// free name is renamed there without ever replacing. One that replaces a synced file
// checks the file first (place, clearTarget): only
// content equal to the base may be replaced. An edit made after that check and before
// the rename would be lost with the replaced file, so the rename itself keeps what it
// replaces, and what it kept is compared with what was checked:
//
//   - where the FS can swap two names (fsys.Exchanger: Linux, macOS), the temp file
//     and the target are exchanged in one atomic step: whatever stood at the target
//     at that moment (edited in place, or saved over by an editor's rename) comes out
//     under the temp name;
//   - elsewhere (Windows, file systems without the swap), a hard link to the target
//     (fsys.Linker) is taken before a last stat: the stat must still match the check
//     (else the key is decided again on the next pass, nothing replaced), and after
//     the rename the link holds the replaced file with every write made to it in
//     place. A file saved over the target by a rename between that last stat and the
//     rename is still lost: microseconds, where the swap leaves no window at all.
//
// What came out (settleReplaced) is removed when it still holds the checked content
// (its stat unchanged, or its hash equal); anything else becomes a conflict copy of
// the target, the download staying in place.

// beforeReplace, when set (tests only), runs just before the replacing rename or
// exchange, the rename that takes a file out to delete it (removeChecked), or the
// rename that mirrors a server move (disk.tryLocalMove), with the target's path: the
// seam through which a test edits the file in the window.
var beforeReplace atomic.Pointer[func(target string)]

func runBeforeReplace(target string) {
	if f := beforeReplace.Load(); f != nil {
		(*f)(target)
	}
}

// placer puts downloaded files into place (see the top of this file) and deletes
// synced ones (removeChecked), keeping what changed since the check.
type placer struct{ disk }

// place renames the verified temp file tmp (content hash sum) over a's local path
// after a last look at what is there: only content the client has synced (the base)
// may be overwritten; anything else becomes a conflict copy. keep reports that tmp
// was consumed (renamed into place).
func (e placer) place(a *action, out *outcome, tmp string, meta protocol.Metadata, sum string, fi fs.FileInfo) (keep bool, err error) {
	target := a.lpath
	e.mu.Lock()
	cached, lOK := e.local[a.key]
	_, bOK := e.base[a.key]
	e.mu.Unlock()
	if (lOK || bOK) && renamedAway(e.root, target) {
		out.again(a.key) // decided again once the rename is seen
		return false, nil
	}
	if !lOK {
		// Nothing was there when the pass looked (the common case of a new file): the
		// rename itself is the check, as it never replaces; only a name that appeared
		// since needs the look below.
		err := e.root.RenameNoReplace(tmp, target)
		if err == nil {
			e.downloaded(a, out, meta, sum, observe(target, fi))
			return true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return false, err
		}
	}
	cur, err := e.statLocal(target, &cached)
	if errors.Is(err, errOther) {
		e.reportOnce(target, "symlink or special file in the way of a server file, not synced", nil)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	replace, done, err := e.clearTarget(a, out, cur, sum)
	if done || err != nil {
		return false, err
	}
	if replace {
		placed, err := e.replaceChecked(a, out, tmp, target, cur)
		if !placed || err != nil {
			return placed, err // placed with an error: tmp holds what must not be removed
		}
	} else {
		if cur != nil {
			target = freedName(target, a.path)
		}
		if err := e.placeFree(a, out, tmp, target); err != nil {
			return false, err
		}
	}
	e.downloaded(a, out, meta, sum, observe(target, fi))
	return true, nil
}

// freedName is where a download goes once what stood at target was moved aside as
// a conflict copy (or an empty directory removed): under the server's spelling of
// the name. Both sides made the name anew, spelled otherwise ("x" here, "X" on the
// server): the server's file kept the local spelling once the local one was a
// conflict copy, and that folder alone showed "x" for good.
func freedName(target, serverPath string) string {
	name := pathrule.Base(serverPath)
	if dir := pathrule.Parent(target); dir != "" {
		return dir + "/" + name
	}
	return name
}

// renamedAway reports whether the synced file at target is gone because the user
// renamed it in case only (report.txt → Report.txt) since the pass looked: placing
// the download at target would make a second file beside the renamed one, which
// folds to the same name and is kept but not synced for good. Asked only for a key
// the client knew here (a listing of the directories on the way).
func renamedAway(root fsys.FS, target string) bool {
	if _, err := root.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return renamedInCase(root, target)
}

// clearTarget decides what becomes of what stands at a's local path (cur, just
// checked; nil: nothing) before the download of content sum is put there: the same
// content is recorded (done); the synced content is to be replaced (replace); a
// directory is removed when empty; anything else is moved aside as a conflict copy.
func (e placer) clearTarget(a *action, out *outcome, cur *localEntry, sum string) (replace, done bool, err error) {
	if cur == nil {
		return false, false, nil
	}
	e.mu.Lock()
	b, bOK := e.base[a.key]
	e.mu.Unlock()
	switch {
	case !cur.Dir && cur.Hash == sum:
		// Already there (same content): just record it.
		e.mu.Lock()
		e.local[a.key] = *cur
		e.base[a.key] = syncedBase(a.path, a.lpath, false, sum)
		e.ensureParents(a.path, 0)
		e.dirty = true
		e.mu.Unlock()
		return false, true, nil
	case cur.Dir:
		if e.root.Remove(a.lpath) == nil {
			return false, false, nil
		}
	case bOK && !b.Dir && b.Hash == cur.Hash:
		return true, false, nil // the synced content: replaced, keeping any edit made since
	}
	_, err = e.moveAside(a.key, a.lpath, out)
	return false, false, err
}

// placeFree renames tmp to target, which is free (nothing was there, or it was just
// moved aside): without ever replacing, so a name created in between is kept (as a
// conflict copy) rather than overwritten.
func (e placer) placeFree(a *action, out *outcome, tmp, target string) error {
	err := e.root.RenameNoReplace(tmp, target)
	if errors.Is(err, fs.ErrExist) {
		if _, err := e.moveAside(a.key, target, out); err != nil {
			return err
		}
		err = e.root.RenameNoReplace(tmp, target)
	}
	return err
}

// replaceChecked puts the temp file tmp in place of target, which held the checked
// content cur, keeping any edit made since the check as a conflict copy. placed false
// (nil error) leaves the key to the next pass, nothing replaced.
func (e placer) replaceChecked(a *action, out *outcome, tmp, target string, cur *localEntry) (placed bool, err error) {
	x, ok := e.root.(fsys.Exchanger)
	if !ok {
		return e.replaceLinked(a, out, tmp, target, cur)
	}
	runBeforeReplace(target)
	err = x.Exchange(tmp, target)
	switch {
	case err == nil:
		if err := e.settleReplaced(a, out, tmp, target, cur); err != nil {
			// No conflict copy could be made: swap back, the edit keeps its name and
			// the download is dropped (the key is decided again).
			if x.Exchange(tmp, target) == nil {
				return false, err
			}
			e.log.Error("a replaced local file is left under a temp name", "path", target, "temp", tmp, "err", err)
			return true, err
		}
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		// Deleted meanwhile (modify beats delete): nothing to keep.
		return true, e.placeFree(a, out, tmp, target)
	case errors.Is(err, errors.ErrUnsupported):
		return e.replaceLinked(a, out, tmp, target, cur)
	}
	return false, err
}

// replaceLinked is replaceChecked without an exchange: a hard link keeps the replaced
// file where the FS can make one, and a last stat just before the rename must match
// the check.
func (e placer) replaceLinked(a *action, out *outcome, tmp, target string, cur *localEntry) (bool, error) {
	held := ""
	if l, ok := e.root.(fsys.Linker); ok {
		if name := tmpName(target); l.Link(target, name) == nil {
			held = name
		}
	}
	drop := func() {
		if held != "" {
			_ = e.root.Remove(held)
		}
	}
	fi, err := e.root.Lstat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		drop()
		return true, e.placeFree(a, out, tmp, target)
	case err != nil:
		drop()
		return false, err
	case !fi.Mode().IsRegular() || !observe(target, fi).sameStat(*cur):
		drop() // changed since the check: decided again with what is there now
		out.again(a.key)
		return false, nil
	}
	runBeforeReplace(target)
	if err := e.root.Rename(tmp, target); err != nil {
		drop()
		return false, err
	}
	if held == "" {
		return true, nil
	}
	if err := e.settleReplaced(a, out, held, target, cur); err != nil {
		// No conflict copy could be made: the replaced file back at its name.
		if e.root.Rename(held, target) != nil {
			e.log.Error("a replaced local file is left under a temp name", "path", target, "temp", held, "err", err)
		}
		return true, err
	}
	return true, nil
}

// settleReplaced looks at what a replace took out of target, now at held: the checked
// content cur is removed; anything else (edited since, another file saved over it, a
// directory) becomes a conflict copy of target.
func (e placer) settleReplaced(a *action, out *outcome, held, target string, cur *localEntry) error {
	done, now, rmErr := e.checkHeld(held, cur)
	if done {
		if rmErr != nil {
			e.log.Debug("remove the replaced file", "path", held, "err", rmErr) // a leftover temp: the next scan removes it
		}
		return nil
	}
	_, err := e.aside(a.key, held, target, now, out)
	return err
}

// checkHeld compares held, what a rename took out of a file checked as cur (by a
// replace or a delete), with that check: done when nothing is there any more (removed
// by someone else meanwhile) or it still holds the checked content, which is then
// removed (rmErr: that removal failed, a leftover temp the next scan removes).
// Otherwise now is what held holds, nil when it cannot be read (an unreadable file
// is kept, never deleted).
func (e placer) checkHeld(held string, cur *localEntry) (done bool, now *localEntry, rmErr error) {
	was := *cur
	was.Path = held
	now, err := e.statLocal(held, &was)
	switch {
	case err != nil:
		return false, nil, nil
	case now == nil:
		return true, nil, nil
	case !now.Dir && now.Hash == cur.Hash:
		if err := e.root.Remove(held); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return true, nil, err
		}
		return true, nil, nil
	}
	return false, now, nil
}

// removeChecked deletes the local file target, whose content at the check (cur) was
// the base, keeping an edit made since: the file is first renamed to a temp name,
// which takes whatever stands at target at that moment (edited in place, or saved
// over by rename), and compared with the check (checkHeld, as settleReplaced). The checked
// content is removed; anything else goes back to its name (modify beats delete: the
// next pass uploads it) or, when the name was taken meanwhile, becomes a conflict
// copy. free reports that target holds nothing of the user's any more.
func (e placer) removeChecked(a *action, out *outcome, target string, cur *localEntry) (free bool, err error) {
	held := tmpName(target)
	runBeforeReplace(target)
	if err := e.root.RenameNoReplace(target, held); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return false, err
	}
	done, now, rmErr := e.checkHeld(held, cur)
	if done {
		return true, rmErr // rmErr: a leftover temp holding the base, the next scan removes it
	}
	e.log.Info("local file changed just before its delete: kept", "path", target)
	if e.root.RenameNoReplace(held, target) == nil {
		out.again(a.key)
		return false, nil
	}
	_, err = e.aside(a.key, held, target, now, out)
	return err == nil, err
}
