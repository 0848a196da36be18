// What watching a directory for changes costs: kqueue (macOS, the BSDs) holds one
// descriptor for every entry of a watched directory, so a large folder can use up the
// process's descriptors, and with them every open and every connection.

package fsys

// WatchCost says what a watch of a directory (fsnotify) costs here and how much the
// watcher may spend. The zero value: no limit worth counting (inotify and
// ReadDirectoryChangesW hold one watch per directory, no descriptor per entry).
type WatchCost struct {
	// PerEntry: a watched directory holds a descriptor for itself and one for each of
	// its entries (kqueue), also for entries created in it later.
	PerEntry bool
	// Budget is, with PerEntry, the most descriptors the watches may hold.
	Budget int
}

// WatchCosts returns this platform's WatchCost: on macOS and the BSDs, PerEntry with
// a budget of watchBudget of the soft descriptor limit (RLIMIT_NOFILE, which the Go
// runtime raises to the hard limit at start, on macOS to kern.maxfilesperproc).
func WatchCosts() WatchCost { return watchCost() }

// watchReserve is the least number of descriptors kept out of the watches' budget:
// transfers (16 at a time, each a file and a connection), the state, the lock, the
// files a scan or a hash opens.
const watchReserve = 512

// watchBudget is the part of a descriptor limit nofile the watches may hold: half,
// and never more than nofile less watchReserve (0 when the limit is that low). The
// other half is also room for the entries created in watched directories later,
// which kqueue watches as they come.
func watchBudget(nofile uint64) int {
	nofile = min(nofile, 1<<30)
	b := nofile / 2
	if nofile < watchReserve {
		return 0
	}
	return int(min(b, nofile-watchReserve))
}
