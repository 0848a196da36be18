package ctl

import (
	"os"
	"path/filepath"

	"github.com/syncspace/syncspace/sync/fsys"
)

// closeOut closes a new --out file whose content was written and fsynced with err
// the outcome so far, then, on success, fsyncs its directory so that the file's name
// is durable too: a credential or token reported written survives a crash.
func closeOut(f *os.File, err error) error {
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.SyncDir(filepath.Dir(f.Name()))
	}
	return err
}
