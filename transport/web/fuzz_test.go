package web

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzServe: any path, method and Accept-Encoding gets a well-formed answer and never a
// panic; only the index and hashed assets are 200.
func FuzzServe(f *testing.F) {
	h, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Add("GET", "/", "gzip")
	f.Add("HEAD", h.AssetPath("app.js"), "gzip;q=0, br")
	f.Add("GET", "/assets/../../etc/passwd", "")
	f.Add("GET", "/assets/%2e%2e/index.html", "x;q=1,,;")
	f.Add("DELETE", "/index.html", "GZIP ; q=0.000")
	f.Fuzz(func(t *testing.T, method, path, ae string) {
		if !validMethod(method) {
			return
		}
		u, err := url.Parse("http://x" + path)
		if err != nil || u.Path == "" {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method, r.URL = method, u
		r.Header.Set("Accept-Encoding", ae)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 206, 304, 404, 405, 412, 416:
		default:
			t.Fatalf("%s %q: %d", method, path, w.Code)
		}
		if w.Code == 200 && u.Path != "/" && u.Path != "/index.html" && h.assets[u.Path[len(AssetPrefix):]] == nil {
			t.Fatalf("%q served", u.Path)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%q without nosniff", path)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}
