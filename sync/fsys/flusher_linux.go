package fsys

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// syncFSSince is the first Linux release whose syncfs(2) reports write-back errors
// (before 5.8 it returns 0 even when the write-back of a file failed).
var syncFSSince = [2]int{5, 8}

// kernelRelease returns the running kernel's release (uname -r; "" if unknown), read
// once (a variable for tests).
var kernelRelease = sync.OnceValue(func() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
})

// canSyncFS reports whether a Flusher may merge flushes into one syncfs(2): only on
// a kernel whose syncfs reports write-back errors (a release that does not parse
// counts as older). Elsewhere a failed write would go unreported to every file of
// the round; NewFlusher returns nil and its callers fsync each file. It logs nothing:
// it runs before syncd has set up its log, whose first line on a failed start must be
// the error (docs/DEPLOY.md tells operators which kernels share flushes).
func canSyncFS() bool {
	return releaseAtLeast(kernelRelease(), syncFSSince[0], syncFSSince[1])
}

// syncFS flushes the whole file system of f (a variable for tests to fail it).
var syncFS = func(f *os.File) error { return unix.Syncfs(int(f.Fd())) }
