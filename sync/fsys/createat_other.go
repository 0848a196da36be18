//go:build !linux

package fsys

import (
	"io/fs"
	"os"
	"time"
)

// CreateExclAt is Linux only (OpenPathFD gives -1 elsewhere): ok is false.
func CreateExclAt(int, string, fs.FileMode, string) (f *os.File, ok bool, err error) {
	return nil, false, nil
}

// SetModTimeFD is Linux only: ok is false.
func SetModTimeFD(*os.File, time.Time) (ok bool, err error) { return false, nil }
