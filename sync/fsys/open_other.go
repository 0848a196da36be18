//go:build !linux

package fsys

import (
	"io/fs"
	"os"
)

// openBeneath has no single-call resolution here (ok false): the caller uses os.Root.
func (d *Dir) openBeneath(string, int, fs.FileMode) (f *os.File, ok bool, err error) {
	return nil, false, nil
}
