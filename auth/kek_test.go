package auth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
)

func TestReadKEKFile(t *testing.T) {
	dir := t.TempDir()
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	cases := []struct {
		name, content string
		mode          os.FileMode
		want          string // "" = accepted; else a part of the error
	}{
		{"newline", good + "\n", 0o600, ""},
		{"crlf", good + "\r\n", 0o400, ""},
		{"no newline", good, 0o600, ""},
		{"group readable", good + "\n", 0o640, "chmod 600"},
		{"others readable", good + "\n", 0o604, "chmod 600"},
		{"empty", "", 0o600, "empty"},
		{"two lines", good + "\n" + good + "\n", 0o600, "more than one line"},
		{"url base64", strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))), 0o600, "not standard base64"},
		{"short", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600, "decodes to 16 bytes, want 32"},
		{"long", base64.StdEncoding.EncodeToString(make([]byte, 33)), 0o600, "decodes to 33 bytes"},
	}
	for i, c := range cases {
		path := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		kek, err := ReadKEKFile(path)
		switch {
		case c.want == "" && (err != nil || !bytes.Equal(kek, bytes.Repeat([]byte{7}, 32))):
			t.Errorf("%s: %x, %v; want the key", c.name, kek, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "auth.kek_file")):
			t.Errorf("%s: %v; want an auth.kek_file error with %q", c.name, err, c.want)
		case err != nil && strings.Contains(err.Error(), good):
			t.Errorf("%s: the error shows the key: %v", c.name, err)
		}
	}
	if _, err := ReadKEKFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadKEKFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}

func TestWriteKEKFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if err := WriteKEKFile(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kek file mode: %v %v", st, err)
	}
	kek, err := ReadKEKFile(path)
	if err != nil || len(kek) != KEKSize || bytes.Equal(kek, make([]byte, KEKSize)) {
		t.Fatalf("read back %x, %v", kek, err)
	}
	if err := WriteKEKFile(path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrote an existing file: %v", err)
	}
}

func TestSealPrivateKey(t *testing.T) {
	kek, _ := NewKEK()
	other, _ := NewKEK()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	a, err := SealPrivateKey(kek, "kid-a", priv)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SealPrivateKey(kek, "kid-a", priv)
	if bytes.Equal(a, b) || bytes.Contains(a, priv.Seed()) {
		t.Fatal("sealing is deterministic or shows the key")
	}
	if got, err := OpenPrivateKey(kek, "kid-a", a, pub); err != nil || !got.Equal(priv) {
		t.Fatalf("open: %v", err)
	}
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	flipped := append([]byte(nil), a...)
	flipped[len(flipped)-1] ^= 1
	for name, try := range map[string]func() error{
		"other kek":    func() error { _, err := OpenPrivateKey(other, "kid-a", a, pub); return err },
		"other kid":    func() error { _, err := OpenPrivateKey(kek, "kid-b", a, pub); return err },
		"tampered":     func() error { _, err := OpenPrivateKey(kek, "kid-a", flipped, pub); return err },
		"truncated":    func() error { _, err := OpenPrivateKey(kek, "kid-a", a[:20], pub); return err },
		"other public": func() error { _, err := OpenPrivateKey(kek, "kid-a", a, pub2); return err },
		"short kek":    func() error { _, err := SealPrivateKey(kek[:16], "kid-a", priv); return err },
	} {
		if try() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestKEKService: with a KEK, no key directory is made or read, the store holds the
// sealed private halves only, and retiring a key drops its sealed half.
func TestKEKService(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kek, _ := NewKEK()
	st, err := sqlitestore.New(ctx, openDB(t, filepath.Join(dir, "syncd.db")))
	if err != nil {
		t.Fatal(err)
	}
	keyDir := filepath.Join(dir, "keys")
	if _, err := Open(ctx, st, Config{KEK: kek[:31]}, newMemTenants("acme"), nil); err == nil || !strings.Contains(err.Error(), "auth.kek_file") {
		t.Fatalf("a 31-byte KEK: %v", err)
	}
	svc, err := Open(ctx, st, Config{KEK: kek, KeyDir: keyDir}, newMemTenants("acme"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key directory made with a KEK: %v", err)
	}
	first := SignerKID(svc)
	recs, _ := st.Keys(ctx)
	priv := SignerKey(svc)
	if len(recs) != 1 || len(recs[0].Sealed) == 0 || bytes.Contains(recs[0].Sealed, priv.Seed()) {
		t.Fatalf("store holds %+v", recs)
	}
	if _, err := svc.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.RetireKey(ctx, first); err != nil {
		t.Fatal(err)
	}
	recs, _ = st.Keys(ctx)
	if len(recs) != 2 || recs[0].RetiredAt == nil || len(recs[0].Sealed) != 0 || len(recs[1].Sealed) == 0 {
		t.Fatalf("after rotate and retire the store holds %+v", recs)
	}
	tok, _ := mustIssue(t, svc, "acme", "alice", RoleRead)
	if _, err := svc.Verify(ctx, tok, AudienceTenant); err != nil {
		t.Fatal(err)
	}
}

// TestSealKeyFile: a single node's key file sealed for a store shared by nodes opens
// under the KEK there and signs.
func TestSealKeyFile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	kek, _ := NewKEK()
	recs, err := sqlitestore.New(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := recs.Keys(ctx)
	sealed, err := SealKeyFile(kek, filepath.Join(f.dir, "keys"), keys[0])
	if err != nil {
		t.Fatal(err)
	}
	dst, err := sqlitestore.New(ctx, openDB(t, filepath.Join(t.TempDir(), "cluster.db")))
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.AddKey(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	tok, rec := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	if err := dst.AddToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	node, err := Open(ctx, dst, Config{KEK: kek}, f.tenants, nil)
	if err != nil {
		t.Fatal(err)
	}
	if SignerKID(node) != keys[0].KID {
		t.Fatalf("node signs with %s, want the imported %s", SignerKID(node), keys[0].KID)
	}
	if _, err := node.Verify(ctx, tok, AudienceTenant); err != nil {
		t.Fatalf("a token of the single node on the cluster: %v", err)
	}
	if _, err := SealKeyFile(kek, t.TempDir(), keys[0]); err == nil {
		t.Fatal("sealed a key whose file is missing")
	}
}

// TestUnknownKidReloads: a token signed by a key another process rotated in a moment
// ago verifies at once, before any poll (Run is not running here).
func TestUnknownKidReloads(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncd.db")
	kek, _ := NewKEK()
	tenants := newMemTenants("acme")
	open := func() *Service {
		st, err := sqlitestore.New(ctx, openDB(t, path))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := Open(ctx, st, Config{KEK: kek}, tenants, nil)
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := open(), open()
	info, err := a.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := mustIssue(t, a, "acme", "alice", RoleRead)
	if _, err := b.Verify(ctx, tok, AudienceTenant); err != nil {
		t.Fatalf("token of a key rotated elsewhere, before a poll: %v", err)
	}
	if SignerKID(b) != info.KID {
		t.Fatalf("B signs with %s, want the reloaded %s", SignerKID(b), info.KID)
	}
}
