package fsys

import (
	"os"

	"golang.org/x/sys/unix"
)

// canSyncFS: syncfs(2) exists (and, since Linux 5.8, reports write-back errors).
const canSyncFS = true

// syncFS flushes the whole file system of f (a variable for tests to fail it).
var syncFS = func(f *os.File) error { return unix.Syncfs(int(f.Fd())) }
