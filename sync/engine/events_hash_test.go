package engine

import (
	"regexp"
	"strings"
	"testing"
)

// TestIsHashHex checks the loop against the rule it replaced, ^[0-9a-f]{64}$.
func TestIsHashHex(t *testing.T) {
	rule := regexp.MustCompile(`^[0-9a-f]{64}$`)
	good := strings.Repeat("0123456789abcdef", 4)
	cases := []string{"", good, good[:63], good + "0", strings.ToUpper(good), good[:63] + "g",
		"/" + good[1:], good[:32] + ":" + good[33:], good[:63] + "\x00", good[:62] + "é", strings.Repeat("f", 64), strings.Repeat("9", 64)}
	for _, s := range cases {
		if got, want := isHashHex(s), rule.MatchString(s); got != want {
			t.Errorf("isHashHex(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzIsHashHex(f *testing.F) {
	rule := regexp.MustCompile(`^[0-9a-f]{64}$`)
	f.Add(strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isHashHex(s), rule.MatchString(s); got != want {
			t.Errorf("isHashHex(%q) = %v, want %v", s, got, want)
		}
	})
}
