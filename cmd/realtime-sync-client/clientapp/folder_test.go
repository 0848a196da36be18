package clientapp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 13 item 2: a missing --local-path whose parent exists is created (0700) and
// synced; once the client runs, the folder vanishing is still the vanished-root
// guard: the client stops, nothing is re-created, nothing is deleted on the server.
func TestMissingFolderCreatedThenVanishedGuard(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	seed := t.TempDir()
	writeFile(t, filepath.Join(seed, "precious.txt"), "precious")
	mustOnce(t, srv.URL, tok, seed)

	dir := filepath.Join(t.TempDir(), "my-folder")
	c := startClient(t, "A", srv.URL, tok, dir, "--realtime")
	eventually(t, waitLong, "server file in the new folder", fileIs(filepath.Join(dir, "precious.txt"), "precious"))
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created folder: %v %v", fi.Mode(), err)
	}
	if !strings.Contains(c.logs.String(), "created the local folder") {
		t.Fatalf("creation not logged:\n%s", c.logs.String())
	}
	eventually(t, waitLong, "A live", modeIs(dir, "live"))

	// The folder goes at once, as TestVanishedRootStops's does (renamed away, then
	// removed): an rm -rf that the client caught between two of its unlinks, as a
	// loaded machine let it, would be a user's deletes, fairly sent on.
	gone := dir + "-gone"
	if err := os.Rename(dir, gone); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
	code, ok := c.exited(waitLong)
	if !ok || code != 1 || !strings.Contains(c.logs.String(), "vanished") {
		t.Fatalf("client did not stop on the vanished folder: %v %d\n%s", ok, code, c.logs.String())
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("the vanished folder was re-created: %v", err)
	}
	check := t.TempDir()
	mustOnce(t, srv.URL, tok, check)
	if !fileIs(filepath.Join(check, "precious.txt"), "precious")() {
		t.Fatal("server file deleted after the folder vanished")
	}
}
