//go:build !unix

package guard

import (
	"testing"
	"time"
)

// cpuTime skips the benchmark: the process's CPU time is read with getrusage(2),
// which only unix has.
func cpuTime(b *testing.B) time.Duration {
	b.Skip("process CPU time needs getrusage (unix)")
	return 0
}
