package fsys

import "golang.org/x/sys/unix"

// startWriteBack starts writing n bytes at off of the file fd to the disk, without
// waiting; errors are ignored (the later flush reports them).
func startWriteBack(fd uintptr, off, n int64) {
	_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
