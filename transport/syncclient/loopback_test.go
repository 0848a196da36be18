package syncclient

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestLoopbackOnly: the plain-http dialer connects to loopback addresses only, whatever
// the server's name resolved to.
func TestLoopbackOnly(t *testing.T) {
	for _, tt := range []struct {
		address string
		ok      bool
	}{
		{"127.0.0.1:8080", true},
		{"127.8.9.10:80", true},
		{"[::1]:8080", true},
		{"[::ffff:127.0.0.1]:80", true},
		// attacks: a "localhost" name that a resolver maps elsewhere
		{"10.1.2.3:8080", false},
		{"192.168.1.1:80", false},
		{"[2001:db8::1]:443", false},
		{"0.0.0.0:80", false},
		{"[::]:80", false},
		{"no-port", false},
		{"localhost:80", false}, // never a name: the dialer resolves first
	} {
		err := LoopbackOnly("tcp", tt.address, nil)
		if (err == nil) != tt.ok {
			t.Errorf("LoopbackOnly(%q) = %v, want ok %v", tt.address, err, tt.ok)
		}
	}
}

// TestPlainHTTPDialsLoopbackOnly: a client of a plain-http server refuses, before
// connecting, an address that is not loopback, in its HTTP transport and in its
// WebSocket dialer.
func TestPlainHTTPDialsLoopbackOnly(t *testing.T) {
	ctx := context.Background()
	c, err := New(Options{Server: "http://app.localhost:8080", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	dials := map[string]func(context.Context, string, string) error{
		"http": func(ctx context.Context, n, a string) error {
			_, err := c.http.Transport.(*http.Transport).DialContext(ctx, n, a)
			return err
		},
		"ws": func(ctx context.Context, n, a string) error {
			_, err := c.dialer.NetDialContext(ctx, n, a)
			return err
		},
	}
	for name, dial := range dials {
		// 192.0.2.0/24 is TEST-NET-1: nothing answers there, and the check refuses it
		// before any packet is sent.
		err := dial(ctx, "tcp", "192.0.2.1:8080")
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: dial of a non-loopback address: %v", name, err)
		}
	}
}
