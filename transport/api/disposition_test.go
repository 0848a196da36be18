package api_test

import (
	"mime"
	"net/url"
	"testing"

	"github.com/syncspace/syncspace/tenants"
)

// TestContentDispositionNames: every download's Content-Disposition parses (RFC 6266
// with RFC 8187's ext-value) and names the file exactly, whatever characters the path
// rules allow in it. Before, filename* carried url.PathEscape's output, which leaves
// '=' and '@' bare: "a=b.txt" or "me@home.txt" made the whole header unparseable.
func TestContentDispositionNames(t *testing.T) {
	e := startDaemon(t, nil)
	w := e.tenant("acme", tenants.Options{}, "write")
	for _, name := range []string{
		"plain.txt", "a b.txt", "é.txt", "it's (1).txt", "a;b,c.txt", "100%.txt", "x+y&z$.txt",
		// attacks: characters PathEscape leaves bare that an ext-value may not hold
		"a=b.txt", "me@home.txt", "[x]{y}.txt", "a^b`c~d!e#f.txt",
	} {
		t.Run(name, func(t *testing.T) {
			if a := e.do(req{method: "PUT", path: "/api/files/" + url.PathEscape(name), body: []byte("x"), token: w}); a.status != 201 {
				t.Fatalf("PUT: %d %s", a.status, a.body)
			}
			a := e.do(req{method: "GET", path: "/api/files/" + url.PathEscape(name), token: w})
			if a.status != 200 {
				t.Fatalf("GET: %d %s", a.status, a.body)
			}
			v := a.hdr.Get("Content-Disposition")
			disp, params, err := mime.ParseMediaType(v)
			if err != nil || disp != "attachment" || params["filename"] != name {
				t.Fatalf("Content-Disposition %q: %q %q %v, want attachment naming %q", v, disp, params["filename"], err, name)
			}
		})
	}
}
