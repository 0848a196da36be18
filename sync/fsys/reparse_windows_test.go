package fsys

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWOFCompressedFileIsRegular: a file compressed with `compact /exe` (a WOF
// reparse point, which Go calls irregular) is a regular file through Dir: Lstat,
// ReadDir and the open file's Stat, so the client syncs it. Skipped where compact
// cannot make one (old Windows, a file system without WOF).
func TestWOFCompressedFileIsRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "packed.txt")
	if err := os.WriteFile(p, []byte(strings.Repeat("syncspace ", 64<<10)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("compact.exe", "/c", "/exe:xpress4k", p).CombinedOutput(); err != nil {
		t.Skipf("compact /exe: %v\n%s", err, out)
	}
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeIrregular == 0 {
		t.Skipf("compact made no reparse point Go calls irregular: %v %v", fi.Mode(), err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if fi, err := d.Lstat("packed.txt"); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("Lstat: %v %v, want a regular file", fi.Mode(), err)
	}
	des, err := d.ReadDir(".")
	if err != nil || len(des) != 1 || !des[0].Type().IsRegular() {
		t.Fatalf("ReadDir: %v %v, want one regular file", des, err)
	}
	f, err := d.Open("packed.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("Stat: %v %v, want a regular file", fi.Mode(), err)
	}
}
