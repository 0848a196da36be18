package tlsconf

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

func TestHSTS(t *testing.T) {
	h := 8760 * time.Hour
	cases := []struct {
		name string
		cfg  HSTS
		tls  bool
		want string
	}{
		{"default", HSTS{MaxAge: h}, true, "max-age=31536000"},
		{"subdomains", HSTS{MaxAge: h, IncludeSubdomains: true}, true, "max-age=31536000; includeSubDomains"},
		{"preload", HSTS{MaxAge: 2 * h, IncludeSubdomains: true, Preload: true}, true, "max-age=63072000; includeSubDomains; preload"},
		{"zero clears", HSTS{}, true, "max-age=0"},
		{"sub-second rounds down", HSTS{MaxAge: 1500 * time.Millisecond}, true, "max-age=1"},
		{"plain http gets none", HSTS{MaxAge: h, IncludeSubdomains: true}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
			r := httptest.NewRequest("GET", "https://sync.test/", nil)
			if !tc.tls {
				r.TLS = nil
			}
			w := httptest.NewRecorder()
			hsts(tc.cfg, next).ServeHTTP(w, r)
			if got := w.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Fatalf("got %q want %q", got, tc.want)
			}
			if w.Code != 204 {
				t.Fatal("next not called")
			}
		})
	}
}

func TestOffMode(t *testing.T) {
	s, err := New(context.Background(), Options{HSTS: HSTS{MaxAge: time.Hour}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.TLSConfig != nil || s.HTTPHandler != nil || s.Manager != nil || s.Middleware == nil {
		t.Fatalf("off mode: %+v", s)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	if s.WrapListener(l) != l {
		t.Fatal("off mode must not wrap the listener")
	}
	r := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
	w := httptest.NewRecorder()
	s.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Header().Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS on plain HTTP")
	}
}

// acmeOffline returns an acme-mode Setup whose CA is a closed loopback port: any
// attempt to reach it fails fast.
func acmeOffline(t *testing.T, listen string) (*Setup, Options) {
	t.Helper()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	c := Options{
		Mode:      ModeACME,
		Domains:   []string{"sync.test", "Files.Example.COM"},
		Directory: "http://" + dead + "/dir",
		CacheDir:  filepath.Join(t.TempDir(), "acme"),
		HTTP01:    true,
		Listen:    listen,
	}
	s, err := New(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

func TestACMESetup(t *testing.T) {
	s, c := acmeOffline(t, "0.0.0.0:8443")
	fi, err := os.Stat(c.CacheDir)
	if err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
		t.Fatalf("acme cache dir: %v %v", fi, err)
	}
	tc := s.TLSConfig
	if tc.MinVersion != tls.VersionTLS12 || !slices.Contains(tc.NextProtos, acme.ALPNProto) ||
		!slices.Contains(tc.NextProtos, "h2") || !slices.Contains(tc.NextProtos, "http/1.1") {
		t.Fatalf("tls config: min %x protos %v", tc.MinVersion, tc.NextProtos)
	}
	if s.Manager == nil || s.Manager.Client.DirectoryURL != c.Directory || s.HTTPHandler == nil {
		t.Fatal("manager not set up")
	}
	// Names outside domains are refused at once without contacting the CA.
	for _, name := range []string{"", "other.test", "sync.test.evil", "127.0.0.1", "xsync.test"} {
		start := time.Now()
		_, err := tc.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err == nil {
			t.Fatalf("certificate for %q", name)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("%q took %v", name, time.Since(start))
		}
	}
	// A pre-existing cache dir with loose permissions is tightened.
	c2 := c
	c2.CacheDir = filepath.Join(t.TempDir(), "acme")
	os.MkdirAll(c2.CacheDir, 0o755)
	s2, err := New(context.Background(), c2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if fi, _ := os.Stat(c2.CacheDir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode %v", fi.Mode().Perm())
	}
	// No http_listen: no HTTP-01 handler.
	c3 := c
	c3.CacheDir = filepath.Join(t.TempDir(), "acme")
	c3.HTTP01 = false
	s3, err := New(context.Background(), c3, nil)
	if err != nil {
		t.Fatal(err)
	}
	s3.Close()
	if s3.HTTPHandler != nil {
		t.Fatal("HTTP handler without http_listen")
	}
	// A bad acme_ca_file is an error naming the field.
	c4 := c
	dir4 := t.TempDir()
	c4.CacheDir = filepath.Join(dir4, "acme")
	c4.CAFile = dir4 + "/missing.pem"
	if _, err := New(context.Background(), c4, nil); err == nil || !strings.HasPrefix(err.Error(), "config: tls.acme_ca_file: cannot read: ") {
		t.Fatalf("missing acme_ca_file: %v", err)
	}
	os.WriteFile(dir4+"/bad.pem", []byte("nothing"), 0o600)
	c4.CAFile = dir4 + "/bad.pem"
	if _, err := New(context.Background(), c4, nil); err == nil || err.Error() != "config: tls.acme_ca_file: no PEM certificate found" {
		t.Fatalf("acme_ca_file without certificates: %v", err)
	}
	// An unknown mode is an error naming tls.mode.
	if _, err := New(context.Background(), Options{Mode: "tls13"}, nil); err == nil || err.Error() != `config: tls.mode: unknown mode "tls13"` {
		t.Fatalf("unknown mode: %v", err)
	}
}

func TestHTTPRedirect(t *testing.T) {
	s, _ := acmeOffline(t, "0.0.0.0:8443")
	s443, _ := acmeOffline(t, ":443")
	cases := []struct {
		name     string
		h        http.Handler
		method   string
		host     string
		target   string
		code     int
		location string
	}{
		{"redirect", s.HTTPHandler, "GET", "sync.test", "/api/list?path=a", 301, "https://sync.test:8443/api/list?path=a"},
		{"head", s.HTTPHandler, "HEAD", "sync.test", "/", 301, "https://sync.test:8443/"},
		{"case and port", s.HTTPHandler, "GET", "FILES.example.com:80", "/x", 301, "https://files.example.com:8443/x"},
		{"trailing dot", s.HTTPHandler, "GET", "sync.test.", "/x", 301, "https://sync.test:8443/x"},
		{"port 443 omitted", s443.HTTPHandler, "GET", "sync.test", "/ws", 301, "https://sync.test/ws"},
		{"post refused", s.HTTPHandler, "POST", "sync.test", "/api/mkdir", 400, ""},
		{"put refused", s.HTTPHandler, "PUT", "sync.test", "/api/files/a", 400, ""},

		// attacks
		{"other host", s.HTTPHandler, "GET", "evil.test", "/", 404, ""},
		{"no host", s.HTTPHandler, "GET", "", "/", 404, ""},
		{"ip host", s.HTTPHandler, "GET", "127.0.0.1", "/", 404, ""},
		{"suffix host", s.HTTPHandler, "GET", "sync.test.evil.test", "/", 404, ""},
		{"userinfo host", s.HTTPHandler, "GET", "sync.test@evil.test", "/", 404, ""},
		{"double slash path", s.HTTPHandler, "GET", "sync.test", "//evil.test/x", 301, "https://sync.test:8443//evil.test/x"},
		{"challenge for other host", s.HTTPHandler, "GET", "evil.test", "/.well-known/acme-challenge/abc", 403, ""},
		{"unknown challenge token", s.HTTPHandler, "GET", "sync.test:5002", "/.well-known/acme-challenge/abc", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://placeholder"+tc.target, nil)
			r.Host = tc.host
			r.RequestURI = tc.target
			w := httptest.NewRecorder()
			tc.h.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.code, w.Body.String())
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Fatalf("Location %q, want %q", got, tc.location)
			}
		})
	}
}
