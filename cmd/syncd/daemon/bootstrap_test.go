package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
	"github.com/syncspace/syncspace/sync/protocol"
)

// startEmbedded starts the embedded default in the current directory (t.Chdir) on a
// free port and returns its stdout once started; stop stops it.
func startEmbedded(t *testing.T) (d *Daemon, stdout string, stop func()) {
	t.Helper()
	getenv := envFunc(map[string]string{"SYNCD_LISTEN": "127.0.0.1:0", "SYNCD_LOG_LEVEL": "warn"})
	var out, logs syncBuffer
	d, err := start(context.Background(), nil, &out, &logs, getenv)
	if err != nil {
		t.Fatalf("start: %v; logs:\n%s", err, logs.String())
	}
	return d, out.String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBootstrapOnlyOnTheFirstStart: tenant "default" and its token file are made on the
// first start of the embedded default only (SPEC §1). A tenant "default" the operator
// deleted afterwards stays deleted at the next start, and no new write token appears.
func TestBootstrapOnlyOnTheFirstStart(t *testing.T) {
	t.Chdir(t.TempDir())
	d, _, stop := startEmbedded(t)
	if err := d.Registry().Delete(context.Background(), DefaultTenant); err != nil {
		t.Fatal(err)
	}
	stop()
	tokenFile := filepath.Join("syncd-data", DefaultTokenFile)
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}

	d, out, stop := startEmbedded(t)
	defer stop()
	if _, err := d.Registry().Get(context.Background(), DefaultTenant); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Errorf("deleted tenant default is back at the next start (%v)", err)
	}
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("a new token file was written at the next start (%v)", err)
	}
	if strings.Contains(out, "created tenant") {
		t.Errorf("stdout: %q", out)
	}
}

// TestFirstStartWritesTheTokenForAnExistingDefault: a first start that finds tenant
// "default" already there without a token file (made with syncctl --data before syncd
// ever ran, or left by a first start that stopped before writing the file) writes
// the token file and prints the hint, instead of starting with no token at all.
func TestFirstStartWritesTheTokenForAnExistingDefault(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := makeDataDir("syncd-data"); err != nil {
		t.Fatal(err)
	}
	var so, se strings.Builder
	if code := ctl.Run(context.Background(), []string{"--data", "syncd-data", "tenant", "create", DefaultTenant}, &so, &se); code != 0 {
		t.Fatalf("syncctl: %d %s", code, se.String())
	}
	d, out, stop := startEmbedded(t)
	defer stop()
	tok, err := os.ReadFile(filepath.Join("syncd-data", DefaultTokenFile))
	if err != nil || !strings.Contains(out, "--token-file syncd-data/default.token") {
		t.Fatalf("token file: %v; stdout %q", err, out)
	}
	if _, err := d.Auth().Verify(context.Background(), strings.TrimSpace(string(tok)), "syncspace"); err != nil {
		t.Fatalf("token: %v", err)
	}
}

// TestHintSaysWhenTheTokenFileNoLongerWorks: a later start whose default.token has
// expired or was revoked says so, with a command that replaces it, instead of
// printing a client command line that fails with 401. The printed command works.
func TestHintSaysWhenTheTokenFileNoLongerWorks(t *testing.T) {
	t.Chdir(t.TempDir())
	_, _, stop := startEmbedded(t)
	stop()
	var so, se strings.Builder
	if code := ctl.Run(context.Background(), []string{"--data", "syncd-data", "token", "revoke", "--tenant", DefaultTenant, "--subject", DefaultTenant}, &so, &se); code != 0 {
		t.Fatalf("syncctl: %d %s", code, se.String())
	}
	d, out, stop := startEmbedded(t)
	defer func() { stop() }()
	var fix string
	for _, l := range strings.Split(out, "\n") {
		if s := strings.TrimSpace(l); strings.HasPrefix(s, "rm ") {
			fix = s
		}
	}
	if !strings.Contains(out, "no longer works (token revoked)") || fix == "" {
		t.Fatalf("stdout does not say the token is revoked and how to replace it:\n%s", out)
	}
	rmPart, ctlPart, ok := strings.Cut(fix, " && syncctl ")
	if !ok || rmPart != "rm syncd-data/default.token" {
		t.Fatalf("command %q", fix)
	}
	os.Remove(filepath.Join("syncd-data", DefaultTokenFile))
	if code := ctl.Run(context.Background(), strings.Fields(ctlPart), &so, &se); code != 0 {
		t.Fatalf("%s: %d %s", ctlPart, code, se.String())
	}
	tok, _ := os.ReadFile(filepath.Join("syncd-data", DefaultTokenFile))
	deadline := time.Now().Add(15 * time.Second)
	for {
		p, err := d.Auth().Verify(context.Background(), strings.TrimSpace(string(tok)), "syncspace")
		if err == nil && p.Role == "write" && p.Tenant == DefaultTenant {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replacement token: %+v %v", p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A working token file gets the plain hint.
	stop()
	_, out, stop = startEmbedded(t)
	if strings.Contains(out, "no longer works") || !strings.Contains(out, "token for tenant") {
		t.Errorf("stdout with a working token:\n%s", out)
	}
}
