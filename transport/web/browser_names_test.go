package web_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserNamesAsTheyAre lists names that differ only in their spaces, and names
// made of markup, quotes, right-to-left text or 255 bytes: each row shows its name
// exactly (two names must not look the same, markup stays text), and renaming one
// without changing the path changes nothing.
func TestBrowserNamesAsTheyAre(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	names := []string{"two  spaces.txt", "two spaces.txt", " lead.txt", "  x  y  .txt",
		// Names are user data: markup and quotes are text, right-to-left text and the
		// longest segment are shown whole.
		`x' onmouseover='alert(1)'.txt`, "&lt;img src=x onerror=alert(1)&gt;.txt", "שלום עולם.txt", strings.Repeat("n", 251) + ".txt"}
	for _, n := range names {
		if code, body := e.do("PUT", "/api/files/"+url.PathEscape(n), []byte(n), nil); code != 201 {
			t.Fatalf("PUT %q: %d %s", n, code, body)
		}
	}
	b.run(chromedp.Navigate(e.base + "/#token=" + e.write))
	b.waitJS("the folder view", fmt.Sprintf(`document.querySelectorAll('#list .row').length === %d && document.querySelector('#banner').hidden`, len(names)))
	shown := eval[[]string](b, `Array.from(document.querySelectorAll('#list .row .name'), (e) => e.innerText)`)
	slices.Sort(shown)
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(shown, want) {
		t.Fatalf("rows show %q, want %q", shown, want)
	}

	// Rename / move, then OK without a change: nothing happens.
	b.selectRow(" lead.txt")
	b.run(chromedp.Click(chromedp.CSS(`#btn-rename`)))
	b.waitJS("rename dialog", `document.querySelector('#dlg-name').open`)
	b.run(chromedp.Click(chromedp.CSS(`#dlg-name-ok`)))
	b.waitJS("dialog closed", `!document.querySelector('#dlg-name').open || document.querySelector('#dlg-name-error').textContent !== ''`)
	if h := e.hashOf(" lead.txt"); h != hexSHA([]byte(" lead.txt")) {
		t.Fatalf("\" lead.txt\" after an unchanged rename: hash %q (moved: %v)", h, e.hashOf("lead.txt") != "")
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %q", errs)
	}
}
