package syncclient

import (
	"encoding/base64"
	"testing"
)

func TestTokenHasPaths(t *testing.T) {
	jwt := func(payload string) string {
		return "eyJhbGciOiJFZERTQSJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	for _, c := range []struct {
		tok  string
		want bool
	}{
		{jwt(`{"sub":"a","paths":["proj"]}`), true},
		{jwt(`{"sub":"a","paths":[]}`), false},
		{jwt(`{"sub":"a"}`), false},
		{jwt(`{"paths":"proj"}`), false}, // not a list: unreadable, unscoped
		{"not-a-jwt", false},
		{"a.%%%.c", false},
	} {
		if got := tokenHasPaths(c.tok); got != c.want {
			t.Errorf("tokenHasPaths(%s) = %v, want %v", c.tok, got, c.want)
		}
	}
}
