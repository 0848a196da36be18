package share

import (
	"encoding/base64"
	"testing"
)

func TestParseID(t *testing.T) {
	good := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	if !ParseID(good) {
		t.Fatalf("%q refused", good)
	}
	for _, bad := range []string{"", good[:21], good + "A", good[:21] + "=", good[:21] + "+", good[:21] + "/", good[:21] + ".", "../../../../etc/passwd", good[:20] + "%2", good[:21] + "B"} {
		if ParseID(bad) {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

// FuzzShareID: ParseID accepts exactly the canonical encodings of 16 bytes.
func FuzzShareID(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("AAAAAAAAAAAAAAAAAAAAAB")
	f.Add("../AAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		if !ParseID(s) {
			return
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 16 || base64.RawURLEncoding.EncodeToString(b) != s {
			t.Fatalf("accepted %q", s)
		}
		if len(KeyOf(s)) != 64 {
			t.Fatal("key length")
		}
	})
}
