//go:build !unix

package sqlite_test

import (
	"time"
)

// cpu reads 0 where getrusage(2) does not exist: the benchmarks' CPU figures are
// then 0.
func cpu() time.Duration { return 0 }
