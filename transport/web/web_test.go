package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestEmbeddedAssetsHashedAndLinked(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	index := string(h.Index())
	// Every asset the index names is served, under a name carrying its content hash.
	refs := regexp.MustCompile(`(?:src|href)="assets/([^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 3 {
		t.Fatalf("index names %d assets:\n%s", len(refs), index)
	}
	for _, m := range refs {
		w := get(t, h, "GET", "/assets/"+m[1], nil)
		if w.Code != 200 {
			t.Fatalf("%s: %d", m[1], w.Code)
		}
		name := m[1]
		hash := strings.Split(name, ".")[1]
		sum := sha256.Sum256(w.Body.Bytes())
		if hex.EncodeToString(sum[:4]) != hash {
			t.Errorf("%s: content hash %x, name says %s", name, sum[:4], hash)
		}
		if got := w.Header().Get("Cache-Control"); got != CacheAssets {
			t.Errorf("%s: Cache-Control %q", name, got)
		}
	}
	// Modules import each other by hashed name, so a name covers what it imports.
	app := get(t, h, "GET", h.AssetPath("app.js"), nil).Body.String()
	for _, dep := range []string{"api.js", "sha256.js", "live.js"} {
		want := "./" + strings.TrimPrefix(h.AssetPath(dep), AssetPrefix)
		if h.AssetPath(dep) == "" || !strings.Contains(app, "'"+want+"'") {
			t.Errorf("app.js does not import %s as %s", dep, want)
		}
	}
	if strings.Contains(index, "<script>") || strings.Contains(index, "style=") || strings.Contains(index, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(index) {
		t.Errorf("index has inline script, style or handlers")
	}
}

func TestHeaders(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/index.html", h.AssetPath("app.js"), h.AssetPath("app.css")} {
		w := get(t, h, "GET", p, nil)
		for k, v := range map[string]string{
			"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		} {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", p, k, got, v)
			}
		}
	}
	w := get(t, h, "GET", "/", nil)
	if w.Code != 200 || w.Header().Get("Cache-Control") != CacheIndex || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("index: %d %v", w.Code, w.Header())
	}
	if !strings.Contains(CSP, "script-src 'self'") || strings.Contains(CSP, "unsafe") || !strings.Contains(CSP, "connect-src 'self'") {
		t.Fatalf("CSP not strict: %s", CSP)
	}
	// Revalidation: the ETag answers 304.
	if w2 := get(t, h, "GET", "/", map[string]string{"If-None-Match": w.Header().Get("ETag")}); w2.Code != 304 {
		t.Errorf("If-None-Match: %d", w2.Code)
	}
	// Unhashed or unknown names, and other methods, are refused.
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/assets/app.js", 404},
		{"GET", "/assets/", 404},
		{"GET", "/assets/../index.html", 404},
		{"GET", "/assets/app.00000000.js", 404},
		{"POST", "/", 405},
		{"PUT", h.AssetPath("app.js"), 405},
	} {
		if w := get(t, h, tc.method, tc.path, nil); w.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.code)
		}
	}
	// HEAD answers headers only.
	if w := get(t, h, "HEAD", h.AssetPath("app.js"), nil); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}

func TestGzip(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	p := h.AssetPath("app.js")
	plain := get(t, h, "GET", p, nil)
	gz := get(t, h, "GET", p, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if gz.Header().Get("Content-Encoding") != "gzip" || gz.Header().Get("ETag") == plain.Header().Get("ETag") {
		t.Fatalf("gzip answer headers %v", gz.Header())
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(b, plain.Body.Bytes()) {
		t.Fatalf("gzip body differs (%v)", err)
	}
	if w := get(t, h, "GET", p, map[string]string{"Accept-Encoding": "gzip;q=0"}); w.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got gzip")
	}
}

func TestRewriteAndCycles(t *testing.T) {
	fsys := fstest.MapFS{
		"s/index.html": {Data: []byte(`<script type="module" src="assets/a.js"></script><link href="assets/c.css">`)},
		"s/a.js":       {Data: []byte(`import { b } from './b.js'; import x from './missing.js';`)},
		"s/b.js":       {Data: []byte(`export const b = 1;`)},
		"s/c.css":      {Data: []byte(`body { background: url('./i.svg'); }`)},
		"s/i.svg":      {Data: []byte(`<svg/>`)},
	}
	h, err := newFrom(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	a := get(t, h, "GET", h.AssetPath("a.js"), nil).Body.String()
	if !strings.Contains(a, "'./"+strings.TrimPrefix(h.AssetPath("b.js"), AssetPrefix)+"'") || !strings.Contains(a, "'./missing.js'") {
		t.Errorf("a.js rewritten as %q", a)
	}
	css := get(t, h, "GET", h.AssetPath("c.css"), nil).Body.String()
	if !strings.Contains(css, strings.TrimPrefix(h.AssetPath("i.svg"), AssetPrefix)) {
		t.Errorf("c.css rewritten as %q", css)
	}
	// A change in b.js renames a.js too.
	fsys["s/b.js"] = &fstest.MapFile{Data: []byte(`export const b = 2;`)}
	h2, err := newFrom(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	if h2.AssetPath("a.js") == h.AssetPath("a.js") || h2.AssetPath("c.css") != h.AssetPath("c.css") {
		t.Errorf("names: %s → %s, %s → %s", h.AssetPath("a.js"), h2.AssetPath("a.js"), h.AssetPath("c.css"), h2.AssetPath("c.css"))
	}
	fsys["s/b.js"] = &fstest.MapFile{Data: []byte(`import './a.js';`)}
	if _, err := newFrom(fsys, "s"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	delete(fsys, "s/index.html")
	if _, err := newFrom(fsys, "s"); err == nil {
		t.Errorf("no index accepted")
	}
}
