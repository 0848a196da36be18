package syncclient

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
)

func TestParseServer(t *testing.T) {
	good := map[string][2]string{
		"http://127.0.0.1:8080":       {"http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"},
		"http://localhost:8080/":      {"http://localhost:8080", "ws://localhost:8080/ws"},
		"ws://[::1]:9/":               {"http://[::1]:9", "ws://[::1]:9/ws"},
		"ws://127.0.0.1:9/ws":         {"http://127.0.0.1:9", "ws://127.0.0.1:9/ws"},
		"https://sync.example.com":    {"https://sync.example.com", "wss://sync.example.com/ws"},
		"wss://sync.example.com/base": {"https://sync.example.com/base", "wss://sync.example.com/base/ws"},
	}
	for in, want := range good {
		h, w, err := ParseServer(in)
		if err != nil {
			t.Errorf("ParseServer(%q): %v", in, err)
			continue
		}
		if h.String() != want[0] || w.String() != want[1] {
			t.Errorf("ParseServer(%q) = %s, %s; want %s, %s", in, h, w, want[0], want[1])
		}
	}
	attacks := []string{
		"http://sync.example.com",       // plain http off loopback
		"ws://10.0.0.1:8080",            // plain ws off loopback
		"http://127.0.0.1.evil.com",     // looks like loopback, is not
		"http://localhost.evil.com:80",  // ditto
		"ftp://127.0.0.1",               // scheme
		"file:///etc/passwd",            // scheme, no host
		"https://user:pw@sync.example",  // credentials
		"https://sync.example/?token=x", // query
		"127.0.0.1:8080",                // no scheme
		"",
		"https://127.0.0.1:99999", // no such port: dialled and retried forever
		"https://127.0.0.1:0",     // ditto
		"https://sync.example:",   // empty port
	}
	for _, in := range attacks {
		if _, _, err := ParseServer(in); err == nil {
			t.Errorf("ParseServer(%q) accepted", in)
		}
	}
}

func TestFileURLEscapesOnce(t *testing.T) {
	c, err := New(Options{Server: "http://127.0.0.1:1", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"a b/c?d#e.txt": "http://127.0.0.1:1/api/files/a%20b/c%3Fd%23e.txt",
		"100%/x":        "http://127.0.0.1:1/api/files/100%25/x",
		"é.txt":         "http://127.0.0.1:1/api/files/%C3%A9.txt",
	}
	for in, want := range cases {
		if got := c.fileURL(in); got != want {
			t.Errorf("fileURL(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestErrorsAndRedirects(t *testing.T) {
	var sawAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/api/files/redirect":
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		case "/api/files/missing":
			w.WriteHeader(404)
			w.Write([]byte(`{"error":{"code":"not_found","message":"no such file"}}`))
		case "/api/files/garbage":
			w.WriteHeader(412)
			w.Write([]byte(`<html>`))
		}
	}))
	defer srv.Close()
	c, err := New(Options{Server: srv.URL, Token: "secret-token"})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	_, err = c.Download(t.Context(), "redirect", &sb)
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("redirect followed or not reported: %v", err)
	}
	_, err = c.Download(t.Context(), "missing", &sb)
	if protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("404 decoded as %v", err)
	}
	_, err = c.Download(t.Context(), "garbage", &sb)
	if protocol.CodeOf(err) != protocol.CodePreconditionFailed {
		t.Fatalf("412 without JSON decoded as %v", err)
	}
	if sawAuth != "Bearer secret-token" {
		t.Fatalf("Authorization = %q", sawAuth)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Fatal("token in an error")
	}
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"epoch":"e","seq":0,"entries":[]}`))
	}))
	defer srv.Close()
	list := func(c *Client) error {
		return c.List(t.Context(), func(string, int64) error { return nil }, func(protocol.Metadata) error { return nil })
	}
	// Without the private root: refused (verification is always on).
	c, err := New(Options{Server: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := list(c); err == nil {
		t.Fatal("self-signed server accepted without --ca-file")
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = New(Options{Server: srv.URL, Token: "t", CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := list(c); err != nil {
		t.Fatalf("with --ca-file: %v", err)
	}
}
