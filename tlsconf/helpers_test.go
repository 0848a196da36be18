package tlsconf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/syncspace/syncspace/tlsconf/internal/pebbletest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pebbletest.Cleanup()
	os.Exit(code)
}

// replaceFile writes data to path the way editors and cert-manager do: a temp file in
// the same directory renamed over the target.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
