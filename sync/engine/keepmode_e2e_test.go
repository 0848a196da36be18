//go:build unix

package engine_test

import (
	"os"
	"path/filepath"
	"testing"
)

// A download that replaces a synced file keeps the permission bits the user gave it:
// a private file (0600) is not made readable by others, a script (0755) stays
// executable. New files get the usual mode.
func TestDownloadKeepsFileMode(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	a.write(t, "secret.txt", "one")
	a.write(t, "run.sh", "echo one")
	a.sync(t)
	b.sync(t)
	for name, mode := range map[string]os.FileMode{"secret.txt": 0o600, "run.sh": 0o755} {
		if err := os.Chmod(filepath.Join(b.dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	b.sync(t) // a mode change alone is not a change of content: nothing to send
	a.write(t, "secret.txt", "two")
	a.write(t, "run.sh", "echo two")
	a.sync(t)
	b.sync(t)
	for name, want := range map[string]os.FileMode{"secret.txt": 0o600, "run.sh": 0o755} {
		fi, err := os.Stat(filepath.Join(b.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want || b.read(t, name) == "one" || b.read(t, name) == "echo one" {
			t.Errorf("%s after the download: mode %v (want %v), content %q", name, got, want, b.read(t, name))
		}
	}
}
