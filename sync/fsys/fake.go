package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/text/unicode/norm"
)

// FakeOptions choose the rules a Fake emulates.
type FakeOptions struct {
	// CaseInsensitive makes names that are equal under Unicode NFC plus simple case
	// folding one name, and keeps the case a name was created with (APFS, NTFS).
	CaseInsensitive bool
	// WindowsNames refuses to create names Windows refuses: the characters <>:"|?*\
	// and C0 controls, a trailing dot or space, and the reserved device names (CON,
	// PRN, AUX, NUL, COM0-9, LPT0-9, COM¹-³, LPT¹-³, CONIN$, CONOUT$, with any
	// extension). The error matches ErrInvalidName.
	WindowsNames bool
	// NoSyncAll makes SyncAll errors.ErrUnsupported (as on Windows).
	NoSyncAll bool
	// ShortNames (with CaseInsensitive) makes an existing entry whose name is not a
	// valid 8.3 name reachable through its generated short name too, as NTFS with
	// short names on (the default on Windows' system drive): ".syncspace" is also
	// "SYNCSP~1". Only the ~1 form is emulated (ShortName).
	ShortNames bool
}

// ErrInvalidName is the fake's "the file system refuses this name" (Windows'
// ERROR_INVALID_NAME).
var ErrInvalidName = errors.New("the file system refuses this name")

// Fake is an FS over a real directory that behaves like a case-insensitive,
// case-preserving file system with Windows' name rules, for tests on Linux (modelled on
// the ideas of Syncthing's lib/fs/fakefs, written anew; it is a wrapper, not in memory,
// so that fsnotify and the engine's absolute-path checks still see real files). Names
// are resolved segment by segment: an existing entry equal under folding is used,
// otherwise the name as given. It can also make chosen names busy (Windows' sharing
// violation) for a number of operations.
//
// What it cannot emulate: files created behind its back (with os calls on the
// directory) may hold two names a real case-insensitive system could not; tests make
// their changes through the Fake.
type Fake struct {
	*Dir
	opts FakeOptions

	mu   sync.Mutex
	busy map[string]int // folded name → operations left that fail busy
	hits map[string]int // folded name → busy failures returned
}

// NewFake opens dir as a Fake with the given rules.
func NewFake(dir string, opts FakeOptions) (*Fake, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	return &Fake{Dir: d, opts: opts, busy: map[string]int{}, hits: map[string]int{}}, nil
}

// SetBusy makes the next n operations (open, remove, rename) on name fail as if another
// program held it open (an error for which IsBusy is true). n < 0: until SetBusy(name,
// 0).
func (f *Fake) SetBusy(name string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy[f.fold(name)] = n
}

// BusyHits returns how many busy failures name has produced.
func (f *Fake) BusyHits(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[f.fold(name)]
}

func (f *Fake) fold(name string) string {
	name = path.Clean(name)
	if f.opts.CaseInsensitive {
		return strings.ToLower(norm.NFC.String(name))
	}
	return name
}

func (f *Fake) checkBusy(op string, names ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		k := f.fold(n)
		if left := f.busy[k]; left != 0 {
			if left > 0 {
				f.busy[k] = left - 1
			}
			f.hits[k]++
			return markBusy(&os.PathError{Op: op, Path: n, Err: errFakeSharing})
		}
	}
	return nil
}

var errFakeSharing = errors.New("the process cannot access the file because another process is using it (fake sharing violation)")

// sameName reports whether two segments are one name under the fake's rules.
func (f *Fake) sameName(a, b string) bool {
	if !f.opts.CaseInsensitive {
		return a == b
	}
	return strings.EqualFold(norm.NFC.String(a), norm.NFC.String(b))
}

// resolve maps name to the path on disk: each segment becomes the existing entry equal
// to it under folding (the exact name first), or stays as given when none exists.
// found reports whether the whole path exists.
func (f *Fake) resolve(name string) (real string, found bool) {
	name = path.Clean(name)
	if name == "." || !f.opts.CaseInsensitive {
		_, err := f.Dir.Lstat(name)
		return name, err == nil
	}
	segs := strings.Split(name, "/")
	cur := "."
	for i, s := range segs {
		des, err := f.Dir.ReadDir(cur)
		match := ""
		if err == nil {
			for _, de := range des {
				if de.Name() == s {
					match = s
					break
				}
				if match == "" && f.sameName(de.Name(), s) {
					match = de.Name()
				}
				if match == "" && f.opts.ShortNames && strings.EqualFold(ShortName(de.Name()), s) {
					match = de.Name()
				}
			}
		}
		if match == "" {
			return path.Join(append([]string{cur}, segs[i:]...)...), false
		}
		cur = path.Join(cur, match)
	}
	return cur, true
}

// ShortName returns the 8.3 short name NTFS would first generate for the long name
// (the ~1 form: up to six letters of the name without leading dots, spaces and other
// dots, upper-cased, then ~1, then up to three letters of the extension), or "" for a
// name that is a valid 8.3 name itself. Characters 8.3 names cannot hold become "_".
// A simplification for the fake: collisions (~2…~4) and the hashed form of later
// collisions are not modelled.
func ShortName(long string) string {
	trimmed := strings.TrimLeft(long, ". ")
	stem, ext := trimmed, ""
	if i := strings.LastIndexByte(trimmed, '.'); i >= 0 {
		stem, ext = trimmed[:i], trimmed[i+1:]
	}
	s, x := shortChars(stem), shortChars(ext)
	if trimmed == long && s == strings.ToUpper(stem) && x == strings.ToUpper(ext) && len(s) <= 8 && len(x) <= 3 {
		return "" // already an 8.3 name (in any case)
	}
	if s == "" {
		return ""
	}
	short := s[:min(len(s), 6)] + "~1"
	if x != "" {
		short += "." + x[:min(len(x), 3)]
	}
	return short
}

// shortChars upper-cases s for a short name, drops spaces and dots, and replaces what
// an 8.3 name cannot hold by "_".
func shortChars(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == ' ' || r == '.':
		case r >= 0x80 || strings.ContainsRune(`+,;=[]`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkName refuses a new final segment the emulated system would refuse.
func (f *Fake) checkName(op, name string) error {
	if f.opts.WindowsNames && !WindowsNameOK(path.Base(name)) {
		return &os.PathError{Op: op, Path: name, Err: ErrInvalidName}
	}
	return nil
}

// WindowsNameOK reports whether Windows accepts seg as one path segment.
func WindowsNameOK(seg string) bool {
	if seg == "" || strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
		return seg == "." || seg == ".."
	}
	for _, r := range seg {
		if r < 0x20 || strings.ContainsRune(`<>:"|?*\/`, r) {
			return false
		}
	}
	stem := seg
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return false
	}
	if len(stem) >= 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) {
		switch stem[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return false
		}
	}
	return true
}

// Open opens name for reading.
func (f *Fake) Open(name string) (File, error) {
	if err := f.checkBusy("open", name); err != nil {
		return nil, err
	}
	r, _ := f.resolve(name)
	return f.Dir.Open(r)
}

// OpenFile opens with os.OpenFile's flags; a new name must pass the name rules.
func (f *Fake) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := f.checkBusy("open", name); err != nil {
		return nil, err
	}
	r, found := f.resolve(name)
	if !found && flag&os.O_CREATE != 0 {
		if err := f.checkName("open", name); err != nil {
			return nil, err
		}
	}
	return f.Dir.OpenFile(r, flag, perm)
}

// Lstat describes name.
func (f *Fake) Lstat(name string) (fs.FileInfo, error) {
	r, _ := f.resolve(name)
	return f.Dir.Lstat(r)
}

// ReadDir lists the directory name.
func (f *Fake) ReadDir(name string) ([]fs.DirEntry, error) {
	r, _ := f.resolve(name)
	return f.Dir.ReadDir(r)
}

// ReadFile reads the whole file.
func (f *Fake) ReadFile(name string) ([]byte, error) {
	if err := f.checkBusy("open", name); err != nil {
		return nil, err
	}
	r, _ := f.resolve(name)
	return f.Dir.ReadFile(r)
}

// MkdirAll creates name and its missing parents, each new segment under the rules.
func (f *Fake) MkdirAll(name string, perm fs.FileMode) error {
	name = path.Clean(name)
	cur := "."
	for _, s := range strings.Split(name, "/") {
		next, found := f.resolve(path.Join(cur, s))
		if !found {
			if err := f.checkName("mkdir", next); err != nil {
				return err
			}
			if err := f.Dir.root.Mkdir(next, perm); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		} else if fi, err := f.Dir.Lstat(next); err != nil {
			return err
		} else if !fi.IsDir() {
			return &os.PathError{Op: "mkdir", Path: name, Err: errNotDirFake}
		}
		cur = next
	}
	return nil
}

// Remove removes a file or an empty directory.
func (f *Fake) Remove(name string) error {
	if err := f.checkBusy("remove", name); err != nil {
		return err
	}
	r, _ := f.resolve(name)
	return f.Dir.Remove(r)
}

// Rename renames from to to, replacing a file at to; a case-only rename of one file
// changes its case.
func (f *Fake) Rename(from, to string) error { return f.rename(from, to, false) }

// RenameNoReplace renames unless to is another existing file (fs.ErrExist); a
// case-only rename of one file is allowed.
func (f *Fake) RenameNoReplace(from, to string) error { return f.rename(from, to, true) }

func (f *Fake) rename(from, to string, noReplace bool) error {
	if err := f.checkBusy("rename", from, to); err != nil {
		return err
	}
	rf, ok := f.resolve(from)
	if !ok {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrNotExist}
	}
	rt, exists := f.resolve(to)
	// The target keeps the case asked for in its last segment, under the parent as it
	// exists on disk.
	dst := path.Join(path.Dir(rt), path.Base(path.Clean(to)))
	if exists {
		same := rt == rf
		if !same {
			a, errA := f.Dir.Lstat(rf)
			b, errB := f.Dir.Lstat(rt)
			same = errA == nil && errB == nil && os.SameFile(a, b)
		}
		switch {
		case same && rt == dst:
			return nil // the same name exactly
		case same:
			return f.Dir.Rename(rf, dst) // case-only: the real directory is case-sensitive
		case noReplace:
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
		}
		if rt != dst {
			// Replacing an entry whose case differs: the result has the new case.
			if err := f.Dir.Remove(rt); err != nil {
				return err
			}
		}
	} else if err := f.checkName("rename", dst); err != nil {
		return err
	}
	if noReplace {
		return f.Dir.RenameNoReplace(rf, dst)
	}
	return f.Dir.Rename(rf, dst)
}

// Exchange is not available on the fake, as on Windows: an error matching
// errors.ErrUnsupported, nothing changed.
func (f *Fake) Exchange(a, b string) error {
	return &os.LinkError{Op: "exchange", Old: a, New: b, Err: errors.ErrUnsupported}
}

// Link makes newname a second name of the file oldname: an existing newname (under
// folding) is fs.ErrExist, and a new name must pass the name rules.
func (f *Fake) Link(oldname, newname string) error {
	if err := f.checkBusy("link", oldname); err != nil {
		return err
	}
	ro, ok := f.resolve(oldname)
	if !ok {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	rn, exists := f.resolve(newname)
	if exists {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	dst := path.Join(path.Dir(rn), path.Base(path.Clean(newname)))
	if err := f.checkName("link", dst); err != nil {
		return err
	}
	return f.Dir.Link(ro, dst)
}

// ShortNames reports FakeOptions.ShortNames.
func (f *Fake) ShortNames() bool { return f.opts.ShortNames }

// CanSyncAll is false with NoSyncAll, else the real folder's answer.
func (f *Fake) CanSyncAll() bool { return !f.opts.NoSyncAll && f.Dir.CanSyncAll() }

// SyncAll syncs the real file system unless NoSyncAll.
func (f *Fake) SyncAll() error {
	if f.opts.NoSyncAll {
		return errors.ErrUnsupported
	}
	return f.Dir.SyncAll()
}

var errNotDirFake error = syscall.ENOTDIR
