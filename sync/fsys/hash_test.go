package fsys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

func TestSHA256Hex(t *testing.T) {
	for _, n := range []int{0, 1, 64, 32 << 10, 32<<10 + 1, 200 << 10} {
		b := bytes.Repeat([]byte("syncspace"), n/9+1)[:n]
		sum := sha256.Sum256(b)
		want := hex.EncodeToString(sum[:])
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := SHA256Hex(f)
		f.Close()
		if err != nil || got != want {
			t.Errorf("%d bytes from a file: %q, %v; want %q", n, got, err, want)
		}
		if got, err := SHA256Hex(iotest.OneByteReader(bytes.NewReader(b))); err != nil || got != want {
			t.Errorf("%d bytes one at a time: %q, %v; want %q", n, got, err, want)
		}
	}
	boom := errors.New("boom")
	if _, err := SHA256Hex(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("read error: %v, want %v", err, boom)
	}
}

// BenchmarkSHA256HexSmallFile hashes a 64-byte file: the pooled buffer against
// io.Copy, which allocates 32 KiB a call.
func BenchmarkSHA256HexSmallFile(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 64), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.Run("pooled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f.Seek(0, io.SeekStart)
			if _, err := SHA256Hex(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("io.Copy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f.Seek(0, io.SeekStart)
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				b.Fatal(err)
			}
			_ = hex.EncodeToString(h.Sum(nil))
		}
	})
}
