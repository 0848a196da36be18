//go:build !linux

package fsys

import "os"

// OpenPathFD has no O_PATH here: no descriptor (OpenFileBeneath does not use one).
func OpenPathFD(string) (int, error) { return -1, nil }

// ClosePathFD closes a descriptor of OpenPathFD (-1: none).
func ClosePathFD(int) {}

// OpenFileBeneath has no openat2 here (ok false): the caller opens through an
// os.Root, which resolves beneath its directory (no "..", no absolute path, no
// symlink escape) but cannot refuse symlinks that stay beneath it.
func OpenFileBeneath(int, string, string) (f *os.File, ok bool, err error) { return nil, false, nil }

// OpenDirBeneath has no openat2 here (ok false): the caller opens through an os.Root.
func OpenDirBeneath(int, string, string) (f *os.File, ok bool, err error) { return nil, false, nil }
