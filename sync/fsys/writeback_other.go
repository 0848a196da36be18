//go:build !linux

package fsys

// startWriteBack does nothing here (no sync_file_range): the final flush does it all.
func startWriteBack(fd uintptr, off, n int64) {}
