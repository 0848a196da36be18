package fsys

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

// TestRegularReparseTag: reparse points with content of their own (OneDrive and
// other cloud placeholders, WOF-compressed files) are files to sync; links and
// special files are not.
func TestRegularReparseTag(t *testing.T) {
	for tag, want := range map[uint32]bool{
		0x9000001a: true, 0x9000101a: true, 0x9000701a: true, 0x9000f01a: true, // CLOUD, CLOUD_1, _7 (OneDrive), _F
		0x80000017: true, 0x80000021: true, 0x8000001e: true, 0x80000013: true, // WOF, ONEDRIVE, STORAGE_SYNC, DEDUP
		0xa000000c: false, 0xa0000003: false, 0xa000001d: false, // symlink, junction, WSL symlink
		0x8000001b: false, 0x80000023: false, 0x80000024: false, 0: false, // app alias, AF_UNIX, WSL FIFO, none
		0x9000001b: false, 0x9001001a: false,
	} {
		if got := regularReparseTag(tag); got != want {
			t.Errorf("regularReparseTag(%#x) = %v, want %v", tag, got, want)
		}
	}
}

// TestRegularEntries: a listing's irregular files whose reparse tag holds content are
// regular, in Type and in Info; other irregular files and directories are unchanged.
func TestRegularEntries(t *testing.T) {
	des, err := fs.ReadDir(fstest.MapFS{
		"cloud": {Mode: fs.ModeIrregular, Data: []byte("x")}, "link": {Mode: fs.ModeIrregular},
		"plain": {Data: []byte("y")}, "dir": {Mode: fs.ModeDir | fs.ModeIrregular},
	}, ".")
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]uint32{"cloud": 0x9000701a, "link": 0xa000001d, "dir": 0x9000701a}
	des = regularEntries(des, func(n string) uint32 { return tags[n] })
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		regular := de.Type().IsRegular() && fi.Mode().IsRegular()
		switch de.Name() {
		case "cloud", "plain":
			if !regular {
				t.Errorf("%s: type %v mode %v, want regular", de.Name(), de.Type(), fi.Mode())
			}
		case "link":
			if de.Type()&fs.ModeIrregular == 0 || fi.Mode()&fs.ModeIrregular == 0 {
				t.Errorf("link: type %v mode %v, want irregular", de.Type(), fi.Mode())
			}
		case "dir":
			if !de.IsDir() || de.Type()&fs.ModeIrregular == 0 {
				t.Errorf("dir: type %v, want unchanged", de.Type())
			}
		}
	}
}
