package tenants

// The store is not built into syncd or syncctl's local mode on Windows (SPEC §1); the
// package compiles there so that syncctl's remote mode can use its types. These are
// the plain path-based Windows equivalents of fsx_unix.go and fsx_linux.go.

import (
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
)

// linkAt makes to (in directory dst) a second name of the file from (in src).
func linkAt(src *os.File, from string, dst *os.File, to string) error {
	return os.Link(fsys.LongPath(filepath.Join(src.Name(), pathrule.Base(from))), fsys.LongPath(filepath.Join(dst.Name(), pathrule.Base(to))))
}

// diskFree reports the bytes available to the caller on the volume of path.
var diskFree = func(path string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	var free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, nil, nil); err != nil {
		return 0, err
	}
	return free, nil
}

// errNoSpace is the file system's "disk full".
var errNoSpace error = windows.ERROR_DISK_FULL

// markOf: no inode in a Windows stat, so no mark (never "own").
func markOf(fs.FileInfo) (ownMark, bool) { return ownMark{}, false }

// openPathFD: no O_PATH descriptor on Windows.
func openPathFD(string) (int, error) { return -1, nil }

// closePathFD closes a descriptor of openPathFD (-1: none).
func closePathFD(int) {}

// openFileAt: no openat2 (ok = false); callers use openRegular through os.Root.
func openFileAt(int, string, string) (f *os.File, ok bool, err error) { return nil, false, nil }
