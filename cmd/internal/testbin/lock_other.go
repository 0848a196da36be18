//go:build !unix

package testbin

// lock is a no-op where flock is missing: concurrent first builds then each build,
// and the atomic rename of a finished build keeps the cache whole.
func lock(string) (unlock func(), err error) { return func() {}, nil }
