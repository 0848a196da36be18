package dirblobs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/syncspace/syncspace/tenants/dirblobs"
	"github.com/syncspace/syncspace/tenants/internal/blobtest"
)

func TestStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := dirblobs.Open(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blobtest.Run(t, s)
	// Nothing is left in tmp/ after refused and completed puts.
	left, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil || len(left) != 0 {
		t.Errorf("tmp/ holds %v (%v)", left, err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store dir mode %v (%v)", fi.Mode(), err)
	}
}

func TestOpenMissingWithoutCreate(t *testing.T) {
	if _, err := dirblobs.Open(filepath.Join(t.TempDir(), "none"), false); err == nil {
		t.Error("Open of a missing dir without create succeeded")
	}
}
