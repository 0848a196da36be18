package fsys

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLockHeld: the probe sees LockFile's lock held through another open file, sees
// it free once that file is closed, and never keeps a lock itself (LockFile succeeds
// after a probe). The same test runs on Windows (LockFileEx).
func TestLockHeld(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	open := func() *os.File {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	owner, probe := open(), open()
	defer probe.Close()
	if err := LockFile(owner); err != nil {
		t.Fatal(err)
	}
	if held, err := LockHeld(probe); !held || err != nil {
		t.Fatalf("held lock: LockHeld = %v, %v", held, err)
	}
	owner.Close()
	for range 2 {
		if held, err := LockHeld(probe); held || err != nil {
			t.Fatalf("free lock: LockHeld = %v, %v", held, err)
		}
	}
	again := open()
	defer again.Close()
	if err := LockFile(again); err != nil {
		t.Fatalf("LockFile after a probe: %v", err)
	}
}
