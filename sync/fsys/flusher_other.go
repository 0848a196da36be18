//go:build !linux

package fsys

import (
	"errors"
	"os"
)

// canSyncFS: no syncfs(2) here; a Flusher is plain Sync.
func canSyncFS() bool { return false }

var syncFS = func(*os.File) error { return errors.ErrUnsupported }
