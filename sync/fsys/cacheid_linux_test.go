package fsys

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCacheID: two paths of one mounted file system have one id; a file system whose
// unflushed writes the kernel does not own alone (procfs here) has none.
func TestCacheID(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	a, okA := CacheID(dir)
	b, okB := CacheID(sub)
	if okA != okB || a != b {
		t.Fatalf("one file system, two answers: %q %v, %q %v", a, okA, b, okB)
	}
	if !okA {
		t.Skip("no unique mount id on this kernel or file system")
	}
	if id, ok := CacheID("/proc"); ok {
		t.Fatalf("procfs has a cache id %q", id)
	}
}
