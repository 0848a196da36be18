package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func writeFile(t *testing.T, f FS, name, content string) {
	t.Helper()
	w, err := f.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readString(t *testing.T, f FS, name string) string {
	t.Helper()
	b, err := f.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The real implementation on this platform: no-replace rename refuses an existing
// target and changes nothing, replace-rename replaces, fsync works on files and
// directories, times are set, and the file id survives a rename.
func TestDirRealCalls(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	writeFile(t, d, "a", "A")
	writeFile(t, d, "b", "B")
	err = d.RenameNoReplace("a", "b")
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("RenameNoReplace onto an existing name: %v, want fs.ErrExist", err)
	}
	if readString(t, d, "a") != "A" || readString(t, d, "b") != "B" {
		t.Fatal("a refused no-replace rename changed something")
	}
	fa, _ := d.Lstat("a")
	id := FileID(fa)
	if runtime.GOOS != "windows" && id == 0 {
		t.Fatal("no file id on a unix system")
	}
	if err := d.RenameNoReplace("a", "c"); err != nil {
		t.Fatal(err)
	}
	fc, err := d.Lstat("c")
	if err != nil {
		t.Fatal(err)
	}
	if FileID(fc) != id || !os.SameFile(fa, fc) {
		t.Fatalf("file id changed across rename: %d → %d", id, FileID(fc))
	}
	if _, err := d.Lstat("a"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old name still there: %v", err)
	}
	if err := d.Rename("c", "b"); err != nil {
		t.Fatal(err)
	}
	if readString(t, d, "b") != "A" {
		t.Fatal("Rename did not replace")
	}
	// fsync of a file and of a directory, and the whole file system.
	f, err := d.OpenFile("b", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("file sync: %v", err)
	}
	mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := f.SetTimes(mt, mt); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := d.Lstat("b"); !fi.ModTime().Equal(mt) {
		t.Fatalf("mtime %v, want %v", fi.ModTime(), mt)
	}
	dir, err := d.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Sync(); err != nil {
		t.Fatalf("directory sync: %v", err)
	}
	dir.Close()
	if err := d.SyncAll(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("SyncAll: %v", err)
	}
	// No escape from the folder.
	if _, err := d.Open("../x"); err == nil {
		t.Fatal("opened a name outside the folder")
	}
	if err := d.MkdirAll("x/y", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, d, "x/y/f", "F")
	if err := d.RenameNoReplace("x/y/f", "x/y/g"); err != nil {
		t.Fatal(err)
	}
	if des, err := d.ReadDir("x/y"); err != nil || len(des) != 1 || des[0].Name() != "g" {
		t.Fatalf("ReadDir: %v %v", des, err)
	}
	if err := d.Remove("x"); !IsNotEmpty(err) {
		t.Fatalf("removing a non-empty directory: %v, want IsNotEmpty", err)
	}
	if _, err := d.OpenFile("b/z", os.O_CREATE|os.O_WRONLY, 0o644); !IsNotDir(err) && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file in the way of a parent: %v", err)
	}
}

// LockFile: a second lock on the same file fails at once, and works again after close.
func TestLockFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	a, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := LockFile(a); err != nil {
		t.Fatal(err)
	}
	b, _ := os.OpenFile(p, os.O_RDWR, 0)
	defer b.Close()
	if err := LockFile(b); err == nil {
		t.Fatal("second lock succeeded")
	}
	a.Close()
	if err := LockFile(b); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
}

func TestLongPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`C:\a\b`, `\\?\C:\a\b`},
		{`C:/a/b`, `\\?\C:\a\b`},
		{`\\server\share\x`, `\\?\UNC\server\share\x`},
		{`\\?\C:\a`, `\\?\C:\a`},
		{`\\.\pipe\x`, `\\.\pipe\x`},
		// attacks: relative and drive-relative paths are not made "long" (the \\?\ form
		// takes a path literally, so a relative one would mean something else).
		{`a\b`, `a\b`},
		{`C:a`, `C:a`},
		{``, ``},
	} {
		if got := LongPath(c.in); got != c.want {
			t.Errorf("LongPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// retryBusy retries busy errors with backoff, returns other errors at once, and marks
// an error still busy at the end so that IsBusy holds.
func TestRetryBusy(t *testing.T) {
	busy := markBusy(errors.New("held"))
	var slept time.Duration
	sleep := func(d time.Duration) { slept += d }
	n := 0
	err := retryBusy(func() error {
		n++
		if n < 3 {
			return busy
		}
		return nil
	}, sleep)
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d tries", err, n)
	}
	n, slept = 0, 0
	err = retryBusy(func() error { n++; return busy }, sleep)
	if !IsBusy(err) || n != len(busyDelays)+1 || slept < time.Second {
		t.Fatalf("always busy: %v, %d tries, slept %v", err, n, slept)
	}
	n = 0
	err = retryBusy(func() error { n++; return fs.ErrNotExist }, sleep)
	if !errors.Is(err, fs.ErrNotExist) || IsBusy(err) || n != 1 {
		t.Fatalf("not busy: %v, %d tries", err, n)
	}
}

// Private leaves a file 0600 and a directory 0700 (on unix; a DACL on Windows).
func TestPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes mean nothing on Windows")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "token")
	if err := os.WriteFile(f, []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(f, 0o644)
	os.Chmod(dir, 0o755)
	for p, want := range map[string]os.FileMode{dir: 0o700, f: 0o600} {
		if err := Private(p); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if err := Private(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("Private on a missing path succeeded")
	}
}
