package credential

import (
	"testing"
	"unicode/utf16"
)

// Text reads the encodings Windows tools write; a device credential saved with a
// byte order mark is still one.
func TestText(t *testing.T) {
	le, be := []byte{0xff, 0xfe}, []byte{0xfe, 0xff}
	for _, u := range utf16.Encode([]rune("tök€n😀\r\n")) {
		le = append(le, byte(u), byte(u>>8))
		be = append(be, byte(u>>8), byte(u))
	}
	for name, in := range map[string][]byte{
		"plain": []byte("tök€n😀\r\n"), "utf8-bom": []byte("\ufefftök€n😀\r\n"), "utf16le": le, "utf16be": be,
		"utf16le-odd": append(le, 'x'),
	} {
		if got := string(Text(in)); got != "tök€n😀\r\n" {
			t.Errorf("%s: %q", name, got)
		}
	}
	if !IsDeviceCredential([]byte("\ufeff{\"refresh_token\":\"x\"}")) {
		t.Error("a credential with a byte order mark is not one")
	}
}
