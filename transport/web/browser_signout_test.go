package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/syncspace/syncspace/transport/web"
)

// TestBrowserSignOutStopsUploads signs out while an upload is still being hashed (the
// CPU slowed down so that it is): the token is forgotten, so the upload must not be
// sent afterwards, into a space the tab has left, with a token it no longer holds.
func TestBrowserSignOutStopsUploads(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	app, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Navigate(e.base + "/#token=" + e.write))
	b.waitJS("the folder view", jsVisible("#list")+` && document.querySelector('#count').textContent !== '' && document.querySelector('#banner').hidden`)

	const size = 32 << 20
	throttle := func(rate float64) {
		t.Helper()
		if _, err := chromedp.Call(b.ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: rate}); err != nil {
			t.Fatal(err)
		}
	}
	throttle(50)
	defer throttle(1)
	b.exec(fmt.Sprintf(`const dt = new DataTransfer();
dt.items.add(new File([new Uint8Array(%d).fill(7)], 'late.bin', { type: 'application/octet-stream' }));
const target = document.getElementById('list');
for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }))`, size))
	b.waitJS("hashing", `Array.from(document.querySelectorAll('#upload-list .ustate')).some((s) => s.textContent === 'Checking…')`)
	b.exec(`document.getElementById('signout').click()`)
	throttle(1)
	b.waitJS("sign-in form", jsVisible("#token-input"))

	// By the time the page has hashed as much again, the first hash would be done.
	took := eval[float64](b, fmt.Sprintf(`(async () => {
  const { hashBlob } = await import(%q);
  const t0 = performance.now();
  await hashBlob(new Blob([new Uint8Array(%d)]));
  return performance.now() - t0;
})()`, app.AssetPath("sha256.js"), size))
	t.Logf("hashing %d MiB in the page: %.0f ms", size>>20, took)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if h := e.hashOf("late.bin"); h != "" {
			t.Fatal("an upload started before sign-out was sent after it, with the forgotten token")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %q", errs)
	}
}
