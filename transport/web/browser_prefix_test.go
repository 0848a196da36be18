package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserBehindPrefix serves the app through a reverse proxy under /sync/ (the
// prefix stripped, as docs/WEB.md says works): sign-in, listing, upload, live updates.
func TestBrowserBehindPrefix(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	target, _ := url.Parse(e.base)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.StripPrefix("/sync", rp))
	t.Cleanup(proxy.Close)
	b := newBrowser(t, exe)
	b.run(chromedp.Navigate(proxy.URL + "/sync/#token=" + e.write))
	b.waitFolderView()
	b.exec(jsDrop(map[string][]byte{"via-proxy.txt": []byte("through the proxy")}))
	b.waitJS("upload done", `document.querySelectorAll('#upload-list li.done').length === 1`)
	if code, body := e.do("PUT", "/api/files/live.txt", []byte("live"), nil); code != 201 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	b.waitJS("live update", jsHasRow("live.txt"))
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %s", strings.Join(errs, "\n"))
	}
}
