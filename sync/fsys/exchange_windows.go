package fsys

import (
	"errors"
	"os"
)

// Exchange is not available on Windows (no atomic swap of two names): it returns an
// error matching errors.ErrUnsupported and changes nothing.
func (d *Dir) Exchange(a, b string) error {
	return &os.LinkError{Op: "exchange", Old: a, New: b, Err: errors.ErrUnsupported}
}
