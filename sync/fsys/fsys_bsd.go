//go:build freebsd || netbsd || openbsd || dragonfly

package fsys

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameAtNoReplace is not available here: RenameAt reports errors.ErrUnsupported and
// Dir falls back to lstat + rename (a name created in between is replaced).
func renameAtNoReplace(int, string, int, string) error { return unix.ENOSYS }

// SyncAll is not available: sync(2) only schedules the writes here and returns
// before they are on disk, and there is no syncfs. Callers fsync each file they
// write; Dir fsyncs the directories whose entries it changes (flushPlan).
func (d *Dir) SyncAll() error { return errors.ErrUnsupported }
