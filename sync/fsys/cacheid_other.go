//go:build !linux

package fsys

// CacheID names the page cache that holds the not yet flushed writes to the file
// system of path; this platform cannot tell it (ok false): the caller flushes before
// it relies on a write.
func CacheID(path string) (id string, ok bool) { return "", false }
