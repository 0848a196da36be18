//go:build !unix

package reliability

// raiseFDLimit reports no limit: only unix limits a process's descriptors by
// RLIMIT_NOFILE.
func raiseFDLimit() (limit uint64, ok bool) { return 0, false }
