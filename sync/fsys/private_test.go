package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreatePrivate: the file is new (an existing name is refused with fs.ErrExist,
// its content untouched) and private from its creation on (ownerOnly: mode 0600 on
// unix, a protected DACL for the user alone on Windows).
func TestCreatePrivate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "laptop.token")
	f, err := CreatePrivate(p)
	if err != nil {
		t.Fatal(err)
	}
	ownerOnly(t, p)
	if _, err := f.WriteString("secret"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if f, err := CreatePrivate(p); !errors.Is(err, fs.ErrExist) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("CreatePrivate over an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "secret" {
		t.Fatalf("existing file changed: %q", b)
	}
}

// TestWriteFileAtomicPrivateTemp: a file written with an owner-only perm (the device
// credential, rotated) is private while its temp file holds the secret, before the
// rename (checked when the temp file is flushed), and after it: on Windows the
// rename keeps the temp file's DACL, so a temp file that took its folder's DACL
// would leave the credential readable by whoever the folder lets in.
func TestWriteFileAtomicPrivateTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "device.json")
	var temps []string
	defer restoreSyncHook(SetSyncHook(func(name string) error {
		if strings.HasPrefix(filepath.Base(name), ".syncspace-tmp-") && filepath.Dir(name) == dir {
			temps = append(temps, name)
			ownerOnly(t, name)
		}
		return nil
	}))
	for _, data := range []string{"one", "two"} {
		if err := WriteFileAtomic(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		ownerOnly(t, p)
	}
	if len(temps) != 2 {
		t.Fatalf("saw %d temp files flushed, want 2", len(temps))
	}
}
