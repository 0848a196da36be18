package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/fsys"
)

// keepCaseFS is a case-insensitive file system on which a rename to the same name in
// another case succeeds without changing anything (as some network and FAT file
// systems do).
type keepCaseFS struct{ fsys.FS }

func (k keepCaseFS) Rename(from, to string) error {
	if strings.EqualFold(from, to) {
		return nil
	}
	return k.FS.Rename(from, to)
}

// A case-only rename that the file system ignores is done through a temporary name:
// the directory then lists the new spelling, with the content, and nothing else.
func TestCaseOnlyRenameThroughTempName(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "Docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Docs", "Report.txt"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	fake, err := fsys.NewFake(dir, fsys.FakeOptions{CaseInsensitive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	d := disk{&Engine{root: keepCaseFS{fake}}}
	for _, c := range []struct{ from, to, list, want string }{
		{"Docs/Report.txt", "Docs/report.txt", "Docs", "report.txt"},
		{"Docs", "docs", ".", "docs"},
	} {
		if err := d.rename(c.from, c.to, true); err != nil {
			t.Fatalf("rename %s: %v", c.from, err)
		}
		des, err := os.ReadDir(filepath.Join(dir, c.list))
		if err != nil || len(des) != 1 || des[0].Name() != c.want {
			t.Fatalf("after renaming %s to %s: %v %v", c.from, c.to, des, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "docs", "report.txt")); err != nil || string(b) != "data" {
		t.Fatalf("content after the renames: %q %v", b, err)
	}
}
