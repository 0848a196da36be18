package fsys

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFineMagic(t *testing.T) {
	cases := []struct {
		name  string
		magic int64
		fine  bool
	}{
		{"ext4", 0xef53, true},
		{"xfs", 0x58465342, true},
		{"btrfs", 0x9123683e, true},
		{"tmpfs", 0x01021994, true},
		{"f2fs", 0xf2f52010, true},
		{"zfs", 0x2fc12fc1, true},
		{"overlayfs", 0x794c7630, true},
		// Another machine's clock, coarse steps, or unknown: the 2-second window.
		{"nfs", 0x6969, false},
		{"smb", 0x517b, false},
		{"cifs", 0xff534d42, false},
		{"smb2", 0xfe534d42, false},
		{"9p", 0x01021997, false},
		{"ceph", 0x00c36400, false},
		{"fuse", 0x65735546, false},
		{"vfat", 0x4d44, false},
		{"exfat", 0x2011bab0, false},
		{"ntfs3", 0x7366746e, false},
		{"unknown", 0x12345678, false},
	}
	for _, c := range cases {
		if fineMagic[c.magic] != c.fine {
			t.Errorf("%s (%#x): fine %v, want %v", c.name, c.magic, fineMagic[c.magic], c.fine)
		}
	}
}

// otherDev is fi seen as if on another device (a file system mounted in the folder).
type otherDev struct{ fs.FileInfo }

func (o otherDev) Sys() any {
	st := *o.FileInfo.Sys().(*syscall.Stat_t)
	st.Dev++
	return &st
}

// noSys is fi without its stat_t.
type noSys struct{ fs.FileInfo }

func (noSys) Sys() any { return nil }

func TestFolderTimesLinux(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := time.Now().Add(-time.Minute)
	if m.Nanosecond() == 0 {
		m = m.Add(time.Nanosecond)
	}
	if err := os.Chtimes(p, m, m); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	var sf unix.Statfs_t
	if err := unix.Statfs(dir, &sf); err != nil {
		t.Fatal(err)
	}
	tm := FolderTimes(dir)
	want := fineMagic[int64(sf.Type)] && fi.ModTime().Nanosecond() != 0
	if got := tm.Fine(fi); got != want {
		t.Fatalf("Fine = %v on f_type %#x, want %v", got, sf.Type, want)
	}
	if !want {
		t.Skipf("the temp folder's file system (f_type %#x) has no fine mtimes here", sf.Type)
	}
	if tm.Fine(otherDev{fi}) {
		t.Error("a file on another device (mounted in the folder) is called fine")
	}
	if tm.Fine(noSys{fi}) {
		t.Error("a file without a device is called fine")
	}
}
