package engine

import (
	"os"

	"github.com/syncspace/syncspace/sync/fsys"
)

// testOpenFS is the file system the package's scenario tests open their folder with:
// with SYNCSPACE_TEST_FS=fake (.ci/run runs the package once more so) the
// case-insensitive, Windows-rules fake with 8.3 short names and without syncfs, else
// the default (nil).
func testOpenFS() func(string) (fsys.FS, error) {
	if os.Getenv("SYNCSPACE_TEST_FS") != "fake" {
		return nil
	}
	return func(abs string) (fsys.FS, error) {
		return fsys.NewFake(abs, fsys.FakeOptions{CaseInsensitive: true, WindowsNames: true, NoSyncAll: true, ShortNames: true})
	}
}
