package fsys

import "golang.org/x/sys/unix"

// StartWriteback asks the kernel to start writing the dirty pages of f in [off,
// off+n) to the device, without waiting for them and without flushing the device's
// cache (sync_file_range(2) with SYNC_FILE_RANGE_WRITE). It makes nothing durable: a
// writer of a large file calls it every few MiB so that the disk works while the
// file is still being written and the final Sync has less left to wait for. Errors
// are ignored (Sync reports write-back errors).
func StartWriteback(f Descriptor, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
