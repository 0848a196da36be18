package clientapp

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"
)

// utf16LE is s in UTF-16 little-endian with a byte order mark: what Windows
// PowerShell 5.1's `>` and Out-File write (`syncctl token issue … > laptop.token`).
func utf16LE(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

// A token file written by Windows tools (UTF-8 with a byte order mark and CRLF, or
// UTF-16 with one) works like a plain one.
func TestTokenFileEncodings(t *testing.T) {
	srv := startServer(t)
	for name, content := range map[string][]byte{
		"utf8-bom-crlf": []byte("\ufeff" + srv.Token + "\r\n"),
		"utf16le":       utf16LE(srv.Token + "\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "laptop.token")
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			if code, logs := runOnce(t, srv.URL, p, t.TempDir()); code != 0 {
				t.Fatalf("exit %d\n%s", code, logs)
			}
		})
	}
}
