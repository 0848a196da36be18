package fsys

import (
	"runtime"
	"testing"
)

// TestWatchBudget: kqueue's watches may hold half the descriptor limit, never so much
// that fewer than watchReserve are left, nothing under the reserve; macOS's default
// limit after the Go runtime raised it (kern.maxfilesperproc, 24576 or 10240) watches
// about 12k or 5k entries, not a folder of 100k files.
func TestWatchBudget(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{0, 0}, {256, 0}, {511, 0}, {512, 0}, {1000, 488}, {1024, 512}, {10240, 5120}, {24576, 12288},
		{1 << 62, 1 << 29},
	} {
		if got := watchBudget(tc.nofile); got != tc.want {
			t.Errorf("watchBudget(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
	c := WatchCosts()
	kqueue := runtime.GOOS != "linux" && runtime.GOOS != "windows"
	if c.PerEntry != kqueue || !kqueue && c.Budget != 0 || kqueue && c.Budget <= 0 {
		t.Errorf("WatchCosts() = %+v on %s", c, runtime.GOOS)
	}
}
