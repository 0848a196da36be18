package clientapp

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	tok := writeToken(t, "x.y.z")
	cases := []struct {
		name string
		args []string
		env  string
		code int
		msg  string
	}{
		{"help", []string{"-h"}, "", 0, ""},
		{"help long", []string{"--help"}, "", 0, ""},
		{"no args", nil, "", 2, "--server is required"},
		{"no local path", []string{"--server", "http://127.0.0.1:1"}, "", 2, "--local-path is required"},
		{"unknown flag", []string{"--bogus"}, "", 2, "bogus"},
		{"positional", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "extra"}, "", 2, "unexpected argument"},
		{"bad interval", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--interval", "0s", "--token-file", tok}, "", 2, "--interval"},
		{"interval too short", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--interval", "1ms", "--token-file", tok}, "", 2, "--interval must be between 100ms and 24h, not 1ms"},
		{"interval negative", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--interval=-5s", "--token-file", tok}, "", 2, "--interval must be between"},
		{"interval too long", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--interval", "25h", "--token-file", tok}, "", 2, "--interval must be between"},
		{"interval not a duration", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--interval", "30", "--token-file", tok}, "", 2, "e.g. 30s"},
		{"bad log level", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--log-level", "loud", "--token-file", tok}, "", 2, "--log-level"},
		// attacks on the inputs
		{"plain http off loopback", []string{"--server", "http://sync.example.com", "--local-path", dir, "--token-file", tok}, "", 2, "loopback"},
		{"plain ws to lookalike", []string{"--server", "ws://127.0.0.1.nip.io", "--local-path", dir, "--token-file", tok}, "", 2, "loopback"},
		{"token in server URL", []string{"--server", "https://sync.example.com/?token=abc", "--local-path", dir, "--token-file", tok}, "", 2, "query"},
		{"client id with slash", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--client-id", "../x", "--token-file", tok}, "", 2, "--client-id"},
		{"client id too long", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--client-id", strings.Repeat("a", 65), "--token-file", tok}, "", 2, "--client-id"},
		{"client id empty-ish", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--client-id", "a b", "--token-file", tok}, "", 2, "--client-id"},
		{"both tokens", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--token", "a", "--token-file", tok}, "", 2, "not both"},
		{"no token", []string{"--server", "http://127.0.0.1:1", "--local-path", dir}, "", 2, "token is required"},
		{"missing token file", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--token-file", filepath.Join(dir, "nope")}, "", 2, "token file"},
		{"missing dir and parent", []string{"--server", "http://127.0.0.1:1", "--local-path", filepath.Join(dir, "nope", "deeper"), "--token-file", tok, "--once"}, "", 1, "nor does its parent"},
		{"local path is a file", []string{"--server", "http://127.0.0.1:1", "--local-path", tok, "--token-file", tok, "--once"}, "", 1, "is not a directory"},
		{"local path under a file", []string{"--server", "http://127.0.0.1:1", "--local-path", filepath.Join(tok, "x"), "--token-file", tok, "--once"}, "", 1, "is not a directory"},
		{"status without local path", []string{"status"}, "", 2, "--local-path is required"},
		{"status with extra argument", []string{"status", "--local-path", dir, "extra"}, "", 2, "unexpected argument"},
		{"status bad flag", []string{"status", "--bogus"}, "", 2, "bogus"},
		{"status without state", []string{"--local-path", dir, "status", "--json"}, "", 1, "no client state"},
		{"bad CA file", []string{"--server", "https://127.0.0.1:1", "--local-path", dir, "--token-file", tok, "--ca-file", tok}, "", 2, "PEM"},
		{"server down", []string{"--server", "http://127.0.0.1:1", "--local-path", dir, "--token-file", tok, "--once"}, "", 1, "unreachable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SYNC_TOKEN", c.env)
			var out, errb syncBuf
			code := Run(context.Background(), c.args, &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, c.code, errb.String())
			}
			if c.code == 0 && !strings.Contains(out.String(), "--local-path") {
				t.Fatalf("usage not on stdout: %q", out.String())
			}
			if c.msg != "" && !strings.Contains(errb.String(), c.msg) {
				t.Fatalf("stderr %q lacks %q", errb.String(), c.msg)
			}
			if strings.Contains(errb.String(), "x.y.z") {
				t.Fatal("token printed")
			}
		})
	}
}

func TestTokenSourcesAndClientID(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	// --token warns; SYNC_TOKEN works.
	var logs syncBuf
	code := Run(context.Background(), []string{"--server", srv.URL, "--local-path", dir, "--token", srv.Token, "--once"}, &logs, &logs)
	if code != 0 || !strings.Contains(logs.String(), "process list") {
		t.Fatalf("--token: %d %s", code, logs.String())
	}
	if strings.Contains(logs.String(), srv.Token) {
		t.Fatal("token logged")
	}
	t.Setenv("SYNC_TOKEN", srv.Token)
	if code := Run(context.Background(), []string{"--server", srv.URL, "--local-path", dir, "--once"}, &logs, &logs); code != 0 {
		t.Fatalf("SYNC_TOKEN: %d %s", code, logs.String())
	}
	// The client id is generated once and kept...
	id := stateClientID(t, dir)
	if !strings.Contains(logs.String(), id) || len(id) != 36 {
		t.Fatalf("client id %q", id)
	}
	Run(context.Background(), []string{"--server", srv.URL, "--local-path", dir, "--once"}, &logs, &logs)
	if got := stateClientID(t, dir); got != id {
		t.Fatalf("client id changed: %s → %s", id, got)
	}
	// ... --client-id overrides it ...
	Run(context.Background(), []string{"--server", srv.URL, "--local-path", dir, "--once", "--client-id", "laptop-1"}, &logs, &logs)
	if got := stateClientID(t, dir); got != "laptop-1" {
		t.Fatalf("--client-id not used: %s", got)
	}
	// ... and a state found under another path gets a new one.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	Run(context.Background(), []string{"--server", srv.URL, "--local-path", moved, "--once"}, &logs, &logs)
	if got := stateClientID(t, moved); got == "laptop-1" || got == id {
		t.Fatalf("client id kept after the folder moved: %s", got)
	}
	// A wrong token is a clear failure.
	var bad syncBuf
	if code := Run(context.Background(), []string{"--server", srv.URL, "--local-path", moved, "--once", "--token", "a.b.c"}, &bad, &bad); code != 1 || !strings.Contains(bad.String(), "unauthenticated") {
		t.Fatalf("bad token: %d %s", code, bad.String())
	}
}

func stateClientID(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".syncspace", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		ClientID string `json:"client_id"`
	}
	json.Unmarshal(b, &st)
	return st.ClientID
}

// A token file or a client key inside --local-path would be synced to the server like
// any file, for every member of the tenant to download (a read-only member would get a
// write token), and a CA file there replaced by any member: the client refuses to
// start (exit 2) and uploads nothing.
func TestSecretInsideFolderRefused(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(dir, "keys", "alice.token")
	writeFile(t, inside, srv.Token+"\n")
	outside := writeToken(t, srv.Token)
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"token file", []string{"--local-path", dir, "--token-file", inside}, "--token-file"},
		{"token file, folder through a symlink", []string{"--local-path", link, "--token-file", inside}, "--token-file"},
		{"token file through a symlink", []string{"--local-path", dir, "--token-file", filepath.Join(link, "keys", "alice.token")}, "--token-file"},
		{"relative token file", []string{"--local-path", dir, "--token-file", relTo(t, inside)}, "--token-file"},
		{"key file", []string{"--local-path", dir, "--token-file", outside, "--cert", outside, "--key", inside}, "--key"},
		{"certificate", []string{"--local-path", dir, "--token-file", outside, "--cert", inside, "--key", outside}, "--cert"},
		{"CA file (a member could replace it)", []string{"--local-path", dir, "--token-file", outside, "--ca-file", inside}, "--ca-file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb syncBuf
			code := Run(context.Background(), append([]string{"--server", srv.URL, "--once"}, c.args...), &out, &errb)
			if code != ExitUsage || !strings.Contains(errb.String(), c.msg) || !strings.Contains(errb.String(), "inside --local-path") {
				t.Fatalf("exit %d, want 2 naming %s; stderr: %s", code, c.msg, errb.String())
			}
			if strings.Contains(errb.String(), srv.Token) {
				t.Fatal("token printed")
			}
		})
	}
	if got := tree(t, srv.DataDir); len(got) != 0 {
		for p := range got {
			if strings.Contains(p, "alice.token") {
				t.Fatalf("the token file reached the server: %s", p)
			}
		}
	}
	// A token file beside the folder (its name sharing a prefix) is fine.
	beside := dir + "-token"
	writeFile(t, beside, srv.Token+"\n")
	os.Remove(inside)
	var out, errb syncBuf
	if code := Run(context.Background(), []string{"--server", srv.URL, "--once", "--local-path", dir, "--token-file", beside}, &out, &errb); code != ExitOK {
		t.Fatalf("token file beside the folder: exit %d: %s", code, errb.String())
	}
}

// relTo returns p relative to the working directory.
func relTo(t *testing.T, p string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	r, err := filepath.Rel(wd, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
