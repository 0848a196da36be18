package auth

import (
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
