package tlsconf

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzRedirect sends arbitrary Host headers, methods and request URIs to the
// http_listen fallback: it never panics and never redirects anywhere but https on a
// configured domain.
func FuzzRedirect(f *testing.F) {
	h := redirectHandler(map[string]bool{"sync.test": true}, "0.0.0.0:8443")
	f.Add("GET", "sync.test", "/api/list?path=a")
	f.Add("GET", "evil.test", "/")
	f.Add("HEAD", "SYNC.TEST.:80", "//evil.test/x")
	f.Add("POST", "sync.test@evil.test", "/x")
	f.Add("GET", "sync.test", "/\\evil.test")
	f.Fuzz(func(t *testing.T, method, host, uri string) {
		if method == "" || uri == "" {
			return
		}
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "http://x/", nil)
		r.Method = method
		r.URL = u
		r.RequestURI = uri
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if loc := w.Header().Get("Location"); loc != "" {
			lu, err := url.Parse(loc)
			if err != nil || lu.Scheme != "https" || lu.Hostname() != "sync.test" || lu.Port() != "8443" {
				t.Fatalf("host %q uri %q redirected to %q", host, uri, loc)
			}
		}
	})
}
