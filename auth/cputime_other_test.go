//go:build !unix

package auth_test

import (
	"testing"
	"time"
)

// cpuNow skips the benchmark: the process's CPU time is read with getrusage(2), which
// only unix has.
func cpuNow(b *testing.B) time.Duration {
	b.Skip("process CPU time needs getrusage (unix)")
	return 0
}
