package auth

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
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

// TestTokenKey: the cache's key is the token's SHA-256 whatever its length, also when
// the pooled buffer of a longer token is reused for a shorter one, concurrently.
func TestTokenKey(t *testing.T) {
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, n := range []int{0, 1, 600, 5000, 31, 1024, 1025, 7} {
				tok := strings.Repeat(string(rune('a'+n%26)), n)
				if tokenKey(tok) != sha256.Sum256([]byte(tok)) {
					t.Errorf("tokenKey of %d bytes differs from its SHA-256", n)
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
