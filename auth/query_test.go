package auth_test

import (
	"testing"

	. "github.com/syncspace/syncspace/auth"
)

func TestQueryCarriesToken(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want bool
	}{
		{"", false},
		{"path=a&recursive=true", false},
		{"tokens=1", false},
		{"my_token=1", false},
		// attacks
		{"token=x", true},
		{"TOKEN=x", true},
		{"a=1&access_token=x", true},
		{"jwt", true},
		{"a=1;token=x", true},
		{"acc%65ss_token=x", true},
		{"%20jwt%20=x", true},
		{"%zz&token=x", true},
	} {
		if got := QueryCarriesToken(c.raw); got != c.want {
			t.Errorf("%q: %v, want %v", c.raw, got, c.want)
		}
	}
}

func FuzzQueryCarriesToken(f *testing.F) {
	for _, s := range []string{"token=x", "a=1;jwt=2", "%zz", "acc%65ss_token=1&b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_ = QueryCarriesToken(raw) // never panics
	})
}
