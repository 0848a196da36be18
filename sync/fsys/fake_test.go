package fsys

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

func newFake(t *testing.T, o FakeOptions) *Fake {
	t.Helper()
	f, err := NewFake(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func names(t *testing.T, f FS, dir string) []string {
	t.Helper()
	des, err := f.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestFakeCaseInsensitive(t *testing.T) {
	f := newFake(t, FakeOptions{CaseInsensitive: true, WindowsNames: true})
	writeFile(t, f, "Read Me.txt", "one")
	// Another case is the same file, and writing through it keeps the first case.
	if readString(t, f, "read me.TXT") != "one" {
		t.Fatal("lookup is not case-insensitive")
	}
	writeFile(t, f, "READ ME.TXT", "two")
	if got := names(t, f, "."); len(got) != 1 || got[0] != "Read Me.txt" || readString(t, f, "Read Me.txt") != "two" {
		t.Fatalf("case not preserved: %v", got)
	}
	// O_EXCL with another case fails: the name exists.
	if _, err := f.OpenFile("read me.txt", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL under another case: %v", err)
	}
	// Unicode forms are one name too (NFD é = NFC é).
	writeFile(t, f, "caf\u00e9", "nfc")
	if readString(t, f, "CAFE\u0301") != "nfc" {
		t.Fatal("NFD lookup of an NFC name failed")
	}
	// A case-only rename of one file changes its case, also without replace.
	if err := f.RenameNoReplace("read me.txt", "README.txt"); err != nil {
		t.Fatal(err)
	}
	if err := f.RenameNoReplace("readme.txt", "ReadMe.txt"); err != nil {
		t.Fatalf("case-only no-replace rename: %v", err)
	}
	if got := names(t, f, "."); got[0] != "ReadMe.txt" {
		t.Fatalf("after case-only rename: %v", got)
	}
	// No-replace onto another file under another case: exists.
	writeFile(t, f, "b", "B")
	if err := f.RenameNoReplace("b", "README.TXT"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("no-replace onto a folded name: %v", err)
	}
	// Replace onto another case: one file remains, named as asked.
	if err := f.Rename("b", "README.TXT"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, f, "."); len(got) != 2 || got[0] != "README.TXT" || readString(t, f, "readme.txt") != "B" {
		t.Fatalf("after replace: %v", got)
	}
	// Directories fold too.
	if err := f.MkdirAll("Docs/Sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.MkdirAll("DOCS/sub/x", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, "docs/SUB/x/f", "F")
	if got := names(t, f, "Docs/Sub/x"); len(got) != 1 || got[0] != "f" {
		t.Fatalf("nested: %v", got)
	}
	if err := f.Remove("DOCS/sub/X/F"); err != nil {
		t.Fatal(err)
	}
}

func TestFakeWindowsNames(t *testing.T) {
	f := newFake(t, FakeOptions{CaseInsensitive: true, WindowsNames: true})
	for _, bad := range []string{"CON", "con.txt", "Lpt1.log", "COM¹", "a:b", "a?", "x<y", `a"b`, "a|b", "a*b", "trail.", "trail ", "nul .txt", "CONIN$", "tab\tname"} {
		if _, err := f.OpenFile(bad, os.O_CREATE|os.O_WRONLY, 0o644); !errors.Is(err, ErrInvalidName) {
			t.Errorf("create %q: %v, want ErrInvalidName", bad, err)
		}
		if err := f.MkdirAll("d/"+bad, 0o755); !errors.Is(err, ErrInvalidName) {
			t.Errorf("mkdir %q: %v", bad, err)
		}
	}
	writeFile(t, f, "ok", "x")
	if err := f.Rename("ok", "aux.c"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("rename to a reserved name: %v", err)
	}
	for _, good := range []string{"CONSOLE", "com10", "lpt", "a.b.c", ".hidden", "naïve", "COM"} {
		if !WindowsNameOK(good) {
			t.Errorf("%q refused", good)
		}
	}
	// Without WindowsNames (a macOS-like fake) such names are fine.
	g := newFake(t, FakeOptions{CaseInsensitive: true})
	writeFile(t, g, "a:b", "x")
}

func TestFakeBusy(t *testing.T) {
	f := newFake(t, FakeOptions{CaseInsensitive: true})
	writeFile(t, f, "held.xlsx", "x")
	f.SetBusy("HELD.xlsx", 2)
	for i := 0; i < 2; i++ {
		if _, err := f.Open("held.xlsx"); !IsBusy(err) || !errors.Is(err, ErrBusy) {
			t.Fatalf("open %d: %v, want busy", i, err)
		}
	}
	if readString(t, f, "held.xlsx") != "x" {
		t.Fatal("still busy after n operations")
	}
	if f.BusyHits("held.xlsx") != 2 {
		t.Fatalf("hits %d", f.BusyHits("held.xlsx"))
	}
	f.SetBusy("held.xlsx", -1)
	if err := f.Remove("held.xlsx"); !IsBusy(err) {
		t.Fatalf("remove: %v", err)
	}
	if err := f.Rename("held.xlsx", "x"); !IsBusy(err) {
		t.Fatalf("rename: %v", err)
	}
	if _, err := f.Lstat("held.xlsx"); err != nil {
		t.Fatal("a busy file must still be there")
	}
}

// TestCanSyncAll: the probe agrees with SyncAll, on the real folder and the fake.
func TestCanSyncAll(t *testing.T) {
	for _, no := range []bool{false, true} {
		f, err := NewFake(t.TempDir(), FakeOptions{NoSyncAll: no})
		if err != nil {
			t.Fatal(err)
		}
		for _, fs := range []FS{f, f.Dir} {
			can := fs.(SyncAllProber).CanSyncAll()
			if err := fs.SyncAll(); can != !errors.Is(err, errors.ErrUnsupported) || (can && err != nil) {
				t.Errorf("NoSyncAll %v, %T: CanSyncAll %v but SyncAll %v", no, fs, can, err)
			}
		}
		f.Close()
	}
}

// ShortName gives NTFS's first short name of a long name, none for an 8.3 name; a
// Fake with ShortNames opens an entry through it, as Windows does.
func TestShortNames(t *testing.T) {
	for long, want := range map[string]string{
		".syncspace": "SYNCSP~1", ".syncignore": "SYNCIG~1", "Long File Name.docx": "LONGFI~1.DOC",
		".syncspace-tmp-123": "SYNCSP~1", "a.b.c": "AB~1.C", "README.TXT": "", "readme.txt": "", "x": "",
		"résumé.txt": "R_SUM_~1.TXT",
	} {
		if got := ShortName(long); got != want {
			t.Errorf("ShortName(%q) = %q, want %q", long, got, want)
		}
	}
	dir := t.TempDir()
	writeAll(t, dir, map[string]string{".syncspace/state.json": "state"})
	f, err := NewFake(dir, FakeOptions{CaseInsensitive: true, WindowsNames: true, ShortNames: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.ShortNames() {
		t.Fatal("ShortNames false")
	}
	if readString(t, f, "syncsp~1/STATE.JSON") != "state" {
		t.Fatal("the short name does not reach .syncspace")
	}
}
