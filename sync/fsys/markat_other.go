//go:build !linux

package fsys

import (
	"errors"
	"os"
)

// MarkAt is Linux only here (errors.ErrUnsupported): callers describe the name by its
// path instead (StatMark of an lstat).
func MarkAt(*os.File, string) (Mark, error) { return Mark{}, errors.ErrUnsupported }
