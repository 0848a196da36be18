//go:build race

package reliability

// raceEnabled reports whether the race detector is on (it caps a process at 8128
// live goroutines, too few for the full load test).
const raceEnabled = true
