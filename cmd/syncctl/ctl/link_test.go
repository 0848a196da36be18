package ctl

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
)

// TestTokenIssueLink: --link prints PUBLIC_URL/#token=TOKEN on stdout and nothing else;
// the token in it works; PUBLIC_URL comes from --public-url, else the config's
// web.public_url, else the listen address.
func TestTokenIssueLink(t *testing.T) {
	d, data := startSyncd(t)
	run(t, "tenant", "create", "team", "--data", data).must(t)

	base := "http://" + d.Addr()
	r := run(t, "token", "issue", "--tenant", "team", "--subject", "ann", "--role", "read", "--link", "--public-url", base+"/", "--data", data).must(t)
	link := strings.TrimSuffix(r.stdout, "\n")
	if strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(link, base+"/#token=") {
		t.Fatalf("stdout %q", r.stdout)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	token := frag.Get("token")
	if token == "" || strings.Contains(r.stderr, token) {
		t.Fatalf("no token in the link, or token on stderr: %q", r.stderr)
	}
	if code := apiStatus(t, d.Addr(), token); code != http.StatusOK {
		t.Fatalf("token of the link: %d", code)
	}
	// The page itself is served there.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /: %d %v", resp.StatusCode, resp.Header)
	}

	// From the config's web.public_url, then derived from its listen address (with a note).
	dir := t.TempDir()
	for _, tc := range []struct{ cfg, want, note string }{
		{`{"data_dir":"` + data + `","web":{"public_url":"https://files.example.com/sync/"}}`, "https://files.example.com/sync/#token=", ""},
		{`{"data_dir":"` + data + `","listen":"127.0.0.1:9443","tls":{"mode":"manual","cert_file":"c","key_file":"k"}}`, "https://127.0.0.1:9443/#token=", "web.public_url"},
	} {
		cfg := filepath.Join(dir, "c.json")
		os.Remove(cfg)
		if err := os.WriteFile(cfg, []byte(tc.cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run(t, "token", "issue", "--tenant", "team", "--subject", "ann", "--role", "write", "--link", "--config", cfg).must(t)
		if !strings.HasPrefix(r.stdout, tc.want) || !strings.Contains(r.stderr, tc.note) {
			t.Errorf("config %s: stdout %q stderr %q", tc.cfg, r.stdout, r.stderr)
		}
	}

	// Bad usage.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--link", "--out", filepath.Join(dir, "t")}, "choose one"},
		{[]string{"--public-url", base}, "goes with --link"},
		{[]string{"--link", "--public-url", "javascript:alert(1)"}, "--public-url"},
		{[]string{"--link", "--public-url", base + "/?x=1"}, "--public-url"},
	} {
		args := append([]string{"token", "issue", "--tenant", "team", "--subject", "ann", "--role", "read", "--data", data}, tc.args...)
		r := run(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
			t.Errorf("%v: exit %d stdout %q stderr %q", tc.args, r.code, r.stdout, r.stderr)
		}
	}
	r = run(t, "token", "issue", "--ops", "--subject", "o", "--link", "--data", data)
	if r.code != 2 || r.stdout != "" {
		t.Errorf("--ops --link: exit %d stdout %q", r.code, r.stdout)
	}
}

// TestLocalModeNamesTheRunningSyncdsURL: without --config, syncctl's sign-in links and
// device credentials name the PUBLIC_URL the syncd of the data dir serves under (its
// web.public_url, or derived from the address it bound), not the embedded default's
// http://127.0.0.1:8080 (SPEC §7.2, §7.3). Until session 26 they named the latter
// whatever syncd ran with.
func TestLocalModeNamesTheRunningSyncdsURL(t *testing.T) {
	d, data := startSyncd(t) // listens on 127.0.0.1:0, no web.public_url
	run(t, "tenant", "create", "team", "--data", data).must(t)
	base := "http://" + d.Addr()
	r := run(t, "token", "issue", "--tenant", "team", "--subject", "ann", "--role", "read", "--link", "--data", data).must(t)
	if !strings.HasPrefix(r.stdout, base+"/#token=") || !strings.Contains(r.stderr, "derived") {
		t.Fatalf("link %q… (stderr %q): want %s/#token=… with a note that it is derived", strings.SplitN(r.stdout, "#", 2)[0], r.stderr, base)
	}
	out := filepath.Join(t.TempDir(), "laptop.json")
	run(t, "token", "issue", "--tenant", "team", "--subject", "ann", "--role", "write", "--device", "laptop", "--out", out, "--data", data).must(t)
	if cred := readCredential(t, out); cred.Server != base {
		t.Fatalf("device credential names server %q, want %q", cred.Server, base)
	}

	// A syncd with web.public_url: that URL, without a note.
	s := syncdtest.Start(t, syncdtest.Options{Config: map[string]any{"log": map[string]any{"level": "error"}, "limits": nil,
		"web": map[string]any{"public_url": "https://files.example.com/"}}})
	run(t, "tenant", "create", "team", "--data", s.DataDir).must(t)
	r = run(t, "token", "issue", "--tenant", "team", "--subject", "ann", "--role", "read", "--link", "--data", s.DataDir).must(t)
	if !strings.HasPrefix(r.stdout, "https://files.example.com/#token=") || strings.Contains(r.stderr, "derived") {
		t.Fatalf("link %q… (stderr %q): want web.public_url without a note", strings.SplitN(r.stdout, "#", 2)[0], r.stderr)
	}
}

// readCredential reads a device credential file.
func readCredential(t *testing.T, path string) DeviceCredential {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c DeviceCredential
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}
