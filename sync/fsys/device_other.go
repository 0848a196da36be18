//go:build !unix

package fsys

import "errors"

// Device is unsupported outside unix, where there is no Flusher (no syncfs) to match a
// file system against.
func Device(string) (uint64, error) { return 0, errors.ErrUnsupported }
