//go:build race

package api_test

// raceOn: the race detector slows the per-byte chunking loops tenfold.
const raceOn = true
