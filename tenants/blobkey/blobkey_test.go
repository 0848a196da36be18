package blobkey

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	h := strings.Repeat("ab", 32)
	k, err := Key("0123abcd", h)
	if err != nil || k != "t/0123abcd/sha256/ab/"+h {
		t.Fatalf("Key: %q, %v", k, err)
	}
	id, hh, err := Parse(k)
	if err != nil || id != "0123abcd" || hh != h {
		t.Fatalf("Parse: %q %q %v", id, hh, err)
	}
	for _, bad := range [][2]string{{"", h}, {"../x", h}, {"a/b", h}, {"ok", "AB" + h[2:]}, {"ok", h[:63]}, {"ok", h + "0"}} {
		if _, err := Key(bad[0], bad[1]); !errors.Is(err, ErrBadKey) {
			t.Errorf("Key(%q, %q): %v", bad[0], bad[1], err)
		}
	}
	for _, bad := range []string{"t/x/sha256/cd/" + h, "t/x/sha1/ab/" + h, "x/x/sha256/ab/" + h, "t/x/sha256/ab", "t/x/sha256/ab/" + h + "/y"} {
		if _, _, err := Parse(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("Parse(%q): %v", bad, err)
		}
	}
}

func TestVerifier(t *testing.T) {
	sum := sha256.Sum256([]byte("hello"))
	h := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		content string
		size    int64
		ok      bool
	}{
		{"hello", 5, true},
		{"hello!", 5, false}, // longer than announced
		{"hell", 4, false},   // other content
		{"hello", 6, false},  // shorter than announced
	} {
		v := NewVerifier(strings.NewReader(tc.content), h, tc.size)
		err := v.Verify()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrMismatch)) {
			t.Errorf("%q size %d: %v", tc.content, tc.size, err)
		}
	}
}
