package publicurl

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestOfIgnoresHeaders: whatever Host and X-Forwarded-* a client sends, the URL is
// the configured one, or else the address the connection reached.
func TestOfIgnoresHeaders(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, Of(r, ""), Of(r, "https://sync.example.com/"))
	}))
	defer srv.Close()
	req, err := http.NewRequest("GET", srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if len(got) != 2 || got[0] != srv.URL || got[1] != "https://sync.example.com" {
		t.Fatalf("got %q, want [%s https://sync.example.com]", got, srv.URL)
	}
}

// TestOrigin: the Origin a browser sends from a page at the public URL.
func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://Sync.Example.com":           "https://sync.example.com",
		"https://sync.example.com:443/sync/": "https://sync.example.com",
		"http://127.0.0.1:8080/":             "http://127.0.0.1:8080",
		"http://[FD00::1]:80":                "http://[fd00::1]",
		"https://[fd00::1]:8443/x":           "https://[fd00::1]:8443",
		"":                                   "",
		"ftp://sync.example.com":             "",
		"/relative":                          "",
	} {
		if got := Origin(in); got != want {
			t.Errorf("Origin(%q) = %q, want %q", in, got, want)
		}
	}
}
