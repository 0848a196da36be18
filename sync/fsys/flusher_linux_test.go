package fsys

import "testing"

// TestNewFlusherOldKernel: before Linux 5.8 (or on a release that does not parse),
// syncfs does not report write-back errors, so NewFlusher returns nil (each file
// gets its own fsync); from 5.8 on it returns a Flusher.
func TestNewFlusherOldKernel(t *testing.T) {
	old := kernelRelease
	t.Cleanup(func() { kernelRelease = old })
	for _, tc := range []struct {
		rel  string
		want bool
	}{{"5.7.19-foo", false}, {"", false}, {"garbage", false}, {"5.8", true}, {"6.18.0-rc1", true}} {
		kernelRelease = func() string { return tc.rel }
		fl, err := NewFlusher(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if got := fl != nil; got != tc.want {
			t.Errorf("kernel %q: a Flusher %v, want %v", tc.rel, got, tc.want)
		}
		fl.Close()
	}
}

// TestFlusherFor: a Flusher serves the directories of its own file system only.
func TestFlusherFor(t *testing.T) {
	dir := t.TempDir()
	fl, err := NewFlusher(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fl == nil {
		t.Skip("no Flusher here (a kernel before Linux 5.8)")
	}
	defer fl.Close()
	same, err := Device(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proc, err := Device("/proc") // another file system
	if err != nil {
		t.Fatal(err)
	}
	if fl.For(same, same) != fl || fl.For() != fl {
		t.Error("a Flusher refuses its own file system")
	}
	if fl.For(same, proc) != nil || fl.For(same+1) != nil {
		t.Error("a Flusher serves another file system")
	}
	if (*Flusher)(nil).For(same) != nil {
		t.Error("a nil Flusher's For is not nil")
	}
}
