package ctl

import (
	"context"
	"errors"
)

// openLocal: local mode needs the server's store, which is not built on Windows (SPEC
// §1); remote mode (--server URL --token-file FILE) works here.
func openLocal(context.Context, localOptions) (backend, error) {
	return nil, errors.New("local mode (--data) is not available on Windows: use --server URL --token-file FILE")
}
