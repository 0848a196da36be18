package auth

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestCacheBounded: the verified-token cache stays bounded.
func TestCacheBounded(t *testing.T) {
	c := newTokenCache(100)
	p := &Principal{ExpiresAt: time.Now().Add(time.Hour)}
	for i := 0; i < 1000; i++ {
		c.put(strings.Repeat("x", i), cacheEntry{p: p}, time.Now())
	}
	if c.len() > 100 {
		t.Fatalf("cache grew to %d", c.len())
	}
}

// TestTokenKey: the cache's key is the SHA-256 of the token's signature whatever
// its length (on the stack up to 128 bytes, on the heap past that), concurrently.
func TestTokenKey(t *testing.T) {
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, n := range []int{0, 1, 86, 127, 128, 129, 600, 5000, 31, 1024, 1025, 7} {
				sig := strings.Repeat(string(rune('a'+n%26)), n)
				if tokenKey(sig) != sha256.Sum256([]byte(sig)) {
					t.Errorf("tokenKey of %d bytes differs from its SHA-256", n)
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// TestSplitToken: every token is its signed part and its signature in one way only,
// so that two different tokens never share both.
func TestSplitToken(t *testing.T) {
	for _, c := range []struct{ tok, signed, sig string }{
		{"", "", ""},
		{"a", "", "a"},
		{".a", ".", "a"},
		{"a.", "a.", ""},
		{"h.p.s", "h.p.", "s"},
		{"h.p.s.", "h.p.s.", ""},
		{"..", "..", ""},
	} {
		signed, sig := splitToken(c.tok)
		if signed != c.signed || sig != c.sig || signed+sig != c.tok {
			t.Errorf("splitToken(%q) = %q, %q; want %q, %q", c.tok, signed, sig, c.signed, c.sig)
		}
	}
}

// TestCacheHitOnlyForTheSameToken (attacks): an entry answers only the very token
// put: not one with the same signature under another signed part, nor the same
// signed part with another signature, nor a prefix or extension of it.
func TestCacheHitOnlyForTheSameToken(t *testing.T) {
	c := newTokenCache(100)
	p := &Principal{JTI: "j1", ExpiresAt: time.Now().Add(time.Hour)}
	tok := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	c.put(tok, cacheEntry{p: p, aud: AudienceTenant}, time.Now())
	if e, ok := c.get(tok); !ok || e.p != p {
		t.Fatal("the token put is not found")
	}
	if e, _ := c.get(tok); e.signed != "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9." {
		t.Fatalf("signed part %q", e.signed)
	}
	for _, other := range []string{
		"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl", // another payload, same signature
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",     // another header, same signature
		"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJm",    // same signed part, another signature
		"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJ",     // signature cut short
		"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlX",   // signature extended
		"c2lnbmF0dXJl",  // the signature alone
		".c2lnbmF0dXJl", // the signature after an empty signed part
		"x.eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl", // a prefix added
		"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.",               // no signature
		"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9",                // no signature, no dot
	} {
		if _, ok := c.get(other); ok {
			t.Errorf("cache hit for %q", other)
		}
	}
}

// TestCacheKeepsNoSignature: no entry holds the signature of its token in clear,
// nor shares the memory of the token it was put with.
func TestCacheKeepsNoSignature(t *testing.T) {
	c := newTokenCache(100)
	b := []byte("aGVhZGVy.cGF5bG9hZA.U0VDUkVUU0lHTkFUVVJF")
	tok := string(b)
	c.put(tok, cacheEntry{p: &Principal{ExpiresAt: time.Now().Add(time.Hour)}}, time.Now())
	for k, e := range c.m {
		if strings.Contains(e.signed, "U0VDUkVUU0lHTkFUVVJF") || strings.Contains(string(k[:]), "U0VDUkVUU0lHTkFUVVJF") {
			t.Fatal("the signature is kept")
		}
		if len(e.signed) > 0 && unsafe.StringData(e.signed) == unsafe.StringData(tok) {
			t.Fatal("the entry shares the token's memory (and so keeps its signature alive)")
		}
	}
}
