package fsys

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// LinkAt makes to (in directory dst) a second name of the file from (in src); from and
// to are single names.
func LinkAt(src *os.File, from string, dst *os.File, to string) error {
	return os.Link(LongPath(filepath.Join(src.Name(), from)), LongPath(filepath.Join(dst.Name(), to)))
}

// DiskFree reports the bytes available to the caller on the volume of path.
func DiskFree(path string) (uint64, error) {
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

// IsNoSpace reports whether err is the volume's "disk full".
func IsNoSpace(err error) bool { return errors.Is(err, windows.ERROR_DISK_FULL) }
