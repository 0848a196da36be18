//go:build !linux

package fsys

import "errors"

// DoneWatcher reports completed changes; only Linux has it (see donewatch_linux.go).
type DoneWatcher struct{}

// NewDoneWatcher returns errors.ErrUnsupported outside Linux: callers fall back to
// waiting for a quiet period.
func NewDoneWatcher() (*DoneWatcher, error) { return nil, errors.ErrUnsupported }

// Events is nil (never ready).
func (w *DoneWatcher) Events() DoneEvents { return nil }

// Add does nothing.
func (w *DoneWatcher) Add(string) error { return errors.ErrUnsupported }

// Remove does nothing.
func (w *DoneWatcher) Remove(string) {}

// Close does nothing.
func (w *DoneWatcher) Close() error { return nil }
