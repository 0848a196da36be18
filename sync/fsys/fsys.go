// Package fsys is the portable file-system layer of the client and of the server's
// file store (server.go: LinkAt, DiskFree, StatMark, OpenFileBeneath). For the client:
// the few operations the sync engine needs (open, create, stat with a file id, list, mkdir, remove, replacing and
// never-replacing renames, fsync of files and whole trees, setting times), over one
// folder, with one implementation per platform behind build tags.
//
// Dir is the real implementation, an *os.Root on the folder (so no name escapes it
// through "..", an absolute path or a symlink on the way), plus:
//
//   - Linux: Open, OpenFile and the parents of a rename resolve the name in one
//     openat2(2) with RESOLVE_BENEATH (the same rule as os.Root: no "..", absolute path
//     or symlink may lead out of the folder; symlinks within it are followed), where
//     os.Root would open every directory on the way; kernels without openat2 use
//     os.Root. RenameNoReplace is renameat2(RENAME_NOREPLACE), atomic; file systems
//     without it (old kernels, some FUSE and network file systems: ENOSYS, EINVAL) fall
//     back to lstat + rename, which can replace a name created in between. Exchange is
//     renameat2(RENAME_EXCHANGE) (errors.ErrUnsupported where the file system lacks it:
//     EINVAL, ENOSYS, EOPNOTSUPP). SyncAll is syncfs(2) on the folder's file system. File ids are inode numbers. DoneWatcher
//     reports files closed after writing (inotify IN_CLOSE_WRITE); elsewhere it is
//     not available.
//   - macOS: RenameNoReplace is renameatx_np(RENAME_EXCL), atomic on APFS and HFS+;
//     Exchange is renameatx_np(RENAME_SWAP) (errors.ErrUnsupported on volumes without it);
//     File.Sync is F_FULLFSYNC (the Go runtime's fsync on darwin), which also flushes
//     the drive's cache. SyncAll is sync(2) plus F_FULLFSYNC on the folder: sync only
//     schedules the writes, the F_FULLFSYNC waits for the device. File ids are inodes.
//   - Windows: RenameNoReplace is MoveFileEx without MOVEFILE_REPLACE_EXISTING (atomic
//     on NTFS: ERROR_ALREADY_EXISTS when the target exists); Rename replaces
//     (MOVEFILE_REPLACE_EXISTING). Paths given to Win32 are made absolute with the
//     \\?\ prefix, so paths over 260 characters work. File.Sync is FlushFileBuffers;
//     a directory cannot be flushed and SyncAll is not available (errors.ErrUnsupported:
//     flushing a volume needs administrator rights), so callers fsync each file they
//     write. Sharing and lock violations (another program has the file open) are
//     retried with backoff for about two seconds, then returned as errors for which
//     IsBusy is true: the file is there, it is not deleted. There are no inode numbers
//     in a directory listing: FileID is 0 and callers compare size and mtime only.
//     SetTimes is SetFileTime on the open handle. Exchange is errors.ErrUnsupported
//     (Windows has no atomic swap of two names). ShortNames is true: a name can also
//     reach an entry through its 8.3 short name (".syncspace" as "SYNCSP~1"), which
//     the engine must keep in mind for names it receives.
//   - FreeBSD, OpenBSD, NetBSD, DragonFly (the client builds from source there; not
//     release targets): RenameNoReplace is lstat + rename (not atomic), Exchange is
//     errors.ErrUnsupported. SyncAll is errors.ErrUnsupported (sync(2) only schedules
//     the writes there and there is no syncfs): callers fsync each file they write, as
//     on Windows, and Dir fsyncs the parent directories of the names it renames,
//     links, removes and creates, so that a file renamed into place is durable
//     (dirsync.go). Solaris, illumos and AIX have no implementation: the
//     package does not build there.
//
// Link (a hard link, made through the os.Root: CreateHardLink on Windows) works on
// every platform whose file system has hard links.
//
// FolderTimes (times.go) tells whether a folder's file system stamps mtimes from the
// local kernel clock in nanoseconds (statfs: f_type on Linux, f_fstypename on macOS;
// nothing is known elsewhere), which lets the client trust a hash taken soon after a
// file's mtime.
//
// Fake (fake.go) is a wrapper over a real directory that behaves like a case-insensitive,
// case-preserving file system with Windows' name rules, for tests on Linux; it can also
// inject sharing violations and resolve 8.3 short names (ShortNames).
package fsys

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"
)

// FS is a folder seen through the operations the sync engine uses. Names are
// '/'-separated and relative to the folder ("." is the folder itself).
type FS interface {
	// Open opens a file or directory for reading.
	Open(name string) (File, error)
	// OpenFile opens with os.OpenFile's flags and permission.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Lstat describes name without following a final symlink.
	Lstat(name string) (fs.FileInfo, error)
	// ReadDir lists the directory name, sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// ReadFile reads the whole file.
	ReadFile(name string) ([]byte, error)
	// MkdirAll creates name and its missing parents.
	MkdirAll(name string, perm fs.FileMode) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Rename renames from to to, replacing a file at to.
	Rename(from, to string) error
	// RenameNoReplace renames from to to unless to exists, in which case it returns an
	// error matching fs.ErrExist and changes nothing. On a case-insensitive file system
	// a case-only rename of one file (a.txt → A.txt) is not "exists".
	RenameNoReplace(from, to string) error
	// SyncAll makes every write to the folder's file system so far durable.
	// errors.ErrUnsupported means the platform cannot; the caller then syncs each file.
	SyncAll() error
	// Close releases the folder.
	Close() error
}

// SyncAllProber is implemented by an FS that knows whether SyncAll is supported
// without calling it: a probe by SyncAll itself would flush everything dirty on the
// file system (seconds on a busy disk) only to learn the answer.
type SyncAllProber interface {
	CanSyncAll() bool
}

// Exchanger is implemented by an FS that can swap two names in one atomic step (Dir on
// Linux and macOS): a program opening either name meanwhile finds one of the two
// entries, never nothing, and nothing written to either is lost.
type Exchanger interface {
	// Exchange swaps the entries (files or directories) at a and b, which must both
	// exist. An error matching errors.ErrUnsupported means the platform or this file
	// system cannot; nothing changed then.
	Exchange(a, b string) error
}

// Linker is implemented by an FS that can give a file a second name (a hard link).
// Dir has it everywhere; the file system may still refuse (FAT, some network and
// FUSE file systems).
type Linker interface {
	// Link makes newname a second name of the file oldname.
	Link(oldname, newname string) error
}

// ShortNamer is implemented by an FS that knows whether a name may also reach an
// entry through a generated 8.3 short name (NTFS and FAT on Windows: ".syncspace" is
// also "SYNCSP~1"), so that a path naming no entry in a listing can still open one.
type ShortNamer interface {
	ShortNames() bool
}

// File is an open file of an FS.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	Stat() (fs.FileInfo, error)
	// Sync makes the file's content durable (fsync; F_FULLFSYNC on macOS;
	// FlushFileBuffers on Windows). On a directory it makes its entries durable where
	// the platform allows it (not on Windows, where it is a no-op).
	Sync() error
	// SetTimes sets the access and modification times of the open file.
	SetTimes(atime, mtime time.Time) error
	// ReadDir lists a directory opened with Open (n ≤ 0: all).
	ReadDir(n int) ([]fs.DirEntry, error)
}

// IDer is implemented by the Sys() value of file infos whose file id is known without
// a platform call (the fake's).
type IDer interface{ FileID() uint64 }

// FileID returns the file id of fi (the inode number on unix), or 0 where the platform
// has none in a stat (Windows). An id is stable across renames within one file system.
func FileID(fi fs.FileInfo) uint64 {
	if fi == nil {
		return 0
	}
	if id, ok := fi.Sys().(IDer); ok {
		return id.FileID()
	}
	return sysFileID(fi)
}

// LinkCount returns the number of names (hard links) of the file fi describes, 0
// where the platform's FileInfo does not say (Windows).
func LinkCount(fi fs.FileInfo) uint64 {
	if fi == nil {
		return 0
	}
	return sysLinkCount(fi)
}

// ErrBusy is matched (errors.Is) by errors for which IsBusy is true.
var ErrBusy = errors.New("file is in use by another program")

// IsBusy reports whether err says that the file exists but another program holds it
// open or locked (Windows' sharing and lock violations, EBUSY and ETXTBSY elsewhere).
// Such a file must be retried later, never treated as deleted.
func IsBusy(err error) bool {
	return err != nil && (errors.Is(err, ErrBusy) || isBusyErrno(err))
}

// IsNotDir reports whether err says that a path component is not a directory (a file
// in the way of a parent).
func IsNotDir(err error) bool { return err != nil && isNotDirErrno(err) }

// IsNotEmpty reports whether err says that a directory is not empty.
func IsNotEmpty(err error) bool { return err != nil && isNotEmptyErrno(err) }

// busyError wraps an error for which IsBusy is true so that errors.Is(err, ErrBusy).
type busyError struct{ err error }

func (b busyError) Error() string        { return b.err.Error() + " (in use by another program)" }
func (b busyError) Unwrap() []error      { return []error{b.err, ErrBusy} }
func markBusy(err error) error           { return busyError{err} }
func (b busyError) Is(target error) bool { return target == ErrBusy }

// Retry policy for busy files inside one call (Windows): about two seconds in all.
var busyDelays = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond, 600 * time.Millisecond}

// retryBusy runs op until it succeeds, fails with another error, or stays busy
// through busyDelays (then the error is marked busy). sleep is time.Sleep except in
// tests.
func retryBusy(op func() error, sleep func(time.Duration)) error {
	err := op()
	for _, d := range busyDelays {
		if err == nil || !IsBusy(err) {
			return err
		}
		sleep(d)
		err = op()
	}
	if err != nil && IsBusy(err) && !errors.Is(err, ErrBusy) {
		return markBusy(err)
	}
	return err
}

// Dir is the real FS: an *os.Root on a folder plus the platform calls above.
type Dir struct {
	root *os.Root
	abs  string   // absolute path of the folder
	self *os.File // the folder opened, for SyncAll
	fd   int      // self's descriptor (Linux: openat2's dirfd)
	// dsync fsyncs the parents of names renamed, linked, removed or created where
	// the platform has no SyncAll (flushPlan: the BSDs).
	dsync dirSyncer
}

// OpenDir opens the folder at dir.
func OpenDir(dir string) (*Dir, error) {
	abs, err := absPath(dir)
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	self, err := r.Open(".")
	if err != nil {
		r.Close()
		return nil, err
	}
	_, dirSync := flushPlan(runtime.GOOS)
	return &Dir{root: r, abs: abs, self: self, fd: int(self.Fd()), dsync: dirSyncer{root: r, on: dirSync}}, nil
}

// CanSyncAll reports whether SyncAll is supported: on Linux and macOS (flushPlan).
func (d *Dir) CanSyncAll() bool {
	syncAll, _ := flushPlan(runtime.GOOS)
	return syncAll
}

// ShortNames reports whether names may reach entries through 8.3 short names: on
// Windows (whether the volume generates them is not asked: assume it does).
func (d *Dir) ShortNames() bool { return runtime.GOOS == "windows" }

// Path returns the folder's absolute path.
func (d *Dir) Path() string { return d.abs }

// Root returns the *os.Root the Dir works through.
func (d *Dir) Root() *os.Root { return d.root }

// Close releases the folder.
func (d *Dir) Close() error {
	d.self.Close()
	return d.root.Close()
}

// Open opens name for reading.
func (d *Dir) Open(name string) (File, error) {
	var f *os.File
	err := retryBusy(func() (err error) { f, err = d.open(name, os.O_RDONLY, 0); return err }, time.Sleep)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// OpenFile opens name with os.OpenFile's flags.
func (d *Dir) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	var f *os.File
	err := retryBusy(func() (err error) { f, err = d.open(name, flag, perm); return err }, time.Sleep)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Lstat describes name without following a final symlink. On Windows a file with a
// reparse point that holds content of its own (OneDrive, WOF: reparse.go) is regular.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, err
	}
	return regularStat(d.abs, name, fi), nil
}

// ReadDir lists the directory name, sorted by name.
func (d *Dir) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return regularList(d.abs, name, des), err
}

// ReadFile reads the whole file.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// MkdirAll creates name and its missing parents (on the BSDs, durably: flushPlan).
func (d *Dir) MkdirAll(name string, perm fs.FileMode) error { return d.dsync.mkdirAll(name, perm) }

// Remove removes a file or an empty directory.
func (d *Dir) Remove(name string) error {
	if err := retryBusy(func() error { return d.root.Remove(name) }, time.Sleep); err != nil {
		return err
	}
	return d.dsync.parents(name)
}

// Rename renames from to to, replacing a file at to.
func (d *Dir) Rename(from, to string) error {
	if err := retryBusy(func() error { return d.root.Rename(from, to) }, time.Sleep); err != nil {
		return err
	}
	return d.dsync.parents(to, from)
}

// Link makes newname a second name of the file oldname (a hard link), both under the
// folder.
func (d *Dir) Link(oldname, newname string) error {
	if err := d.root.Link(oldname, newname); err != nil {
		return err
	}
	return d.dsync.parents(newname)
}

// RenameNoReplace renames from to to unless to exists (fs.ErrExist).
func (d *Dir) RenameNoReplace(from, to string) error {
	if err := retryBusy(func() error { return d.renameNoReplace(from, to) }, time.Sleep); err != nil {
		return err
	}
	return d.dsync.parents(to, from)
}

// renameFallback is lstat + rename, for file systems without an atomic no-replace
// rename: a name created between the two calls is replaced.
func (d *Dir) renameFallback(from, to string) error {
	if _, err := d.root.Lstat(to); err == nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
	}
	return d.root.Rename(from, to)
}

// openParent opens the directory holding name under the root.
func (d *Dir) openParent(name string) (*os.File, error) {
	return d.open(path.Dir(name), os.O_RDONLY, 0)
}

// open is the root's OpenFile, in one openat2(2) call where the platform has it
// (openBeneath) rather than one openat per path component.
func (d *Dir) open(name string, flag int, perm fs.FileMode) (*os.File, error) {
	if f, ok, err := d.openBeneath(name, flag, perm); ok {
		return f, err
	}
	return d.root.OpenFile(name, flag, perm)
}

// osFile is an *os.File with SetTimes.
type osFile struct{ *os.File }

func (f osFile) SetTimes(atime, mtime time.Time) error { return setTimes(f.File, atime, mtime) }

// Sync makes the file durable; on a directory where the platform cannot, a no-op.
func (f osFile) Sync() error { return syncFile(f.File) }

// Stat describes the open file (a Windows reparse point with content of its own is
// regular, as in Dir.Lstat).
func (f osFile) Stat() (fs.FileInfo, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return regularOpen(f.File, fi), nil
}

// IOFS adapts an FS to io/fs for fs.WalkDir (ReadDir sorted, Stat = Lstat).
func IOFS(f FS) fs.FS { return ioFS{f} }

type ioFS struct{ f FS }

func (x ioFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return x.f.Open(name)
}
func (x ioFS) ReadDir(name string) ([]fs.DirEntry, error) { return x.f.ReadDir(name) }
func (x ioFS) Stat(name string) (fs.FileInfo, error)      { return x.f.Lstat(name) }
