package fsys

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZeroTimesNeverFine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if (Times{}).Fine(fi) || (Times{}).Fine(nil) {
		t.Fatal("the zero Times calls a file fine")
	}
	if FolderTimes(filepath.Join(t.TempDir(), "missing")).Fine(fi) {
		t.Fatal("a folder that cannot be examined calls a file fine")
	}
}

// A file with a whole-second mtime (a file system storing seconds shows only such)
// is never fine, on any file system.
func TestWholeSecondMtimeNotFine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	whole := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(p, whole, whole); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if FolderTimes(dir).Fine(fi) {
		t.Fatal("a whole-second mtime is called fine")
	}
}
