//go:build unix

package fsys

import (
	"os"
	"testing"
)

// ownerOnly fails the test unless path has mode 0600 (0700 for a directory).
func ownerOnly(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	want := os.FileMode(0o600)
	if fi.IsDir() {
		want = 0o700
	}
	if fi.Mode().Perm() != want {
		t.Fatalf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}
