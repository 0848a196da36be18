package server

import (
	"io"
	"sync"
)

// LockedWriter makes W safe for concurrent use: one Write at a time, each passed
// whole, so that the lines of loggers sharing W (the daemon's slog handler and its
// AccessLog) never interleave. W must not be nil; the zero value is unusable.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

// Write writes p to W under the lock.
func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}
