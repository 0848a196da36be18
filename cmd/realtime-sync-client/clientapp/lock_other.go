//go:build !unix

package clientapp

// clientRunning cannot probe the engine's lock here: the status file's own
// "running" field is trusted.
func clientRunning(string) (running, known bool) { return false, false }
