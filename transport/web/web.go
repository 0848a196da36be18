// Package web serves syncd's browser app (SPEC §7.2): plain JavaScript modules, one
// stylesheet and an icon, embedded in the binary with go:embed and served on the main
// listener at "/" and "/assets/".
//
// There is no build step. At start-up New names every asset after its content
// (app.js becomes assets/app.1a2b3c4d.js, the first 8 hex digits of its SHA-256) and
// rewrites the references between them, so that each file's name covers what it
// imports, and the index page names the current assets. Hashed assets are cached
// immutably for a year; the index page is revalidated on every load (no-cache + ETag).
// Every answer carries a strict Content-Security-Policy (no inline script, no other
// origin), X-Frame-Options DENY, nosniff and Referrer-Policy no-referrer.
//
// The app talks to the server only through the public API (/api/...) and /ws, like any
// other client; see docs/WEB.md.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/httperr"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every answer of the web app: scripts, styles,
// images and connections (fetch, XMLHttpRequest, WebSocket) from this origin only, no
// inline script or style, no framing, no <base>, and no form submission anywhere (the
// sign-in form is handled by script; if script failed, the token would not be sent).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data: blob:; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Cache-Control values.
const (
	CacheIndex  = "no-cache"
	CacheAssets = "public, max-age=31536000, immutable"
)

// AssetPrefix is the URL path under which hashed assets are served.
const AssetPrefix = "/assets/"

// Handler serves the app. The zero value is not usable: call New.
type Handler struct {
	index  file
	assets map[string]*file // by hashed name
	names  map[string]string
}

type file struct {
	body  []byte
	gz    []byte // gzip of body, nil when it does not pay
	ctype string
	etag  string // of body; the gzip form's is etag with a "-gz" suffix inside the quotes
}

// refRE finds quoted references to assets: "assets/NAME" in the index page and
// './NAME' between modules and in the stylesheet's url().
var refRE = regexp.MustCompile(`(["'(])(\./|assets/)([A-Za-z0-9_-]+\.[a-z0-9]+)(["')])`)

// New reads the embedded files, names the assets after their content and rewrites the
// references. It fails on a reference cycle between assets or a missing index page.
func New() (*Handler, error) {
	return newFrom(static, "static")
}

func newFrom(fsys fs.FS, root string) (*Handler, error) {
	raw := map[string][]byte{}
	var index []byte
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(root, e.Name()))
		if err != nil {
			return nil, err
		}
		if e.Name() == "index.html" {
			index = b
			continue
		}
		raw[e.Name()] = b
	}
	if index == nil {
		return nil, fmt.Errorf("web: no index.html")
	}
	h := &Handler{assets: map[string]*file{}, names: map[string]string{}}
	// Resolve in dependency order: an asset is named once every asset it refers to is.
	pending := make([]string, 0, len(raw))
	for n := range raw {
		pending = append(pending, n)
	}
	slices.Sort(pending)
	for len(pending) > 0 {
		progress := false
		rest := pending[:0:0]
		for _, n := range pending {
			if !h.refsResolved(raw[n], raw) {
				rest = append(rest, n)
				continue
			}
			body := h.rewrite(raw[n])
			sum := sha256.Sum256(body)
			ext := path.Ext(n)
			hashed := strings.TrimSuffix(n, ext) + "." + hex.EncodeToString(sum[:4]) + ext
			h.names[n] = hashed
			h.assets[hashed] = newFile(n, body)
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("web: reference cycle between assets %v", rest)
		}
		pending = rest
	}
	h.index = *newFile("index.html", h.rewrite(index))
	return h, nil
}

// refsResolved reports whether every asset b refers to already has its hashed name.
func (h *Handler) refsResolved(b []byte, raw map[string][]byte) bool {
	for _, m := range refRE.FindAllSubmatch(b, -1) {
		if _, ok := raw[string(m[3])]; ok {
			if _, done := h.names[string(m[3])]; !done {
				return false
			}
		}
	}
	return true
}

// rewrite replaces references to known assets with their hashed names.
func (h *Handler) rewrite(b []byte) []byte {
	return refRE.ReplaceAllFunc(b, func(m []byte) []byte {
		sm := refRE.FindSubmatch(m)
		hashed, ok := h.names[string(sm[3])]
		if !ok {
			return m
		}
		return []byte(string(sm[1]) + string(sm[2]) + hashed + string(sm[4]))
	})
}

func newFile(name string, body []byte) *file {
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // not left to the host's mime tables
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".html":
		ctype = "text/html; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	sum := sha256.Sum256(body)
	f := &file{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	if len(body) > 1024 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if buf.Len() < len(body)*9/10 {
			f.gz = buf.Bytes()
		}
	}
	return f
}

// AssetPath returns the URL path of the asset called name in the sources (for
// example "/assets/sha256.0f1e2d3c.js" for "sha256.js"), "" if there is none.
func (h *Handler) AssetPath(name string) string {
	if n, ok := h.names[name]; ok {
		return AssetPrefix + n
	}
	return ""
}

// Index returns the index page as served.
func (h *Handler) Index() []byte { return slices.Clone(h.index.body) }

// ServeHTTP serves GET and HEAD of "/" and "/index.html" (the index page) and of
// "/assets/NAME" (hashed assets). Anything else is 404 not_found, other methods 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		httperr.WriteRaw(w, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "method not allowed")
		return
	}
	p := r.URL.Path
	var f *file
	switch {
	case p == "/" || p == "/index.html":
		f = &h.index
		hd.Set("Cache-Control", CacheIndex)
	case strings.HasPrefix(p, AssetPrefix):
		f = h.assets[strings.TrimPrefix(p, AssetPrefix)]
		hd.Set("Cache-Control", CacheAssets)
	}
	if f == nil {
		hd.Set("Cache-Control", "no-cache")
		httperr.WriteRaw(w, http.StatusNotFound, protocol.CodeNotFound, "not found")
		return
	}
	hd.Set("Content-Type", f.ctype)
	hd.Add("Vary", "Accept-Encoding")
	body, etag := f.body, f.etag
	if f.gz != nil && acceptsGzip(r) {
		body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304 and honours Range.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip (without q=0).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(name), "gzip") {
				params = strings.ReplaceAll(params, " ", "")
				return params != "q=0" && params != "q=0.0" && params != "q=0.00" && params != "q=0.000"
			}
		}
	}
	return false
}
