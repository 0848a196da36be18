package clientapp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/tenants"
)

// startShortTTLServer runs the real syncd with auth.access_ttl 10s (the minimum) and
// a tenant t1.
func startShortTTLServer(t *testing.T) (*daemon.Daemon, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "syncd.json")
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, "data"),
		"log": map[string]any{"level": "warn"}, "auth": map[string]any{"access_ttl": "10s"}})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	d, err := daemon.Start(context.Background(), []string{"-config", cfg}, io.Discard, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
		if t.Failed() {
			t.Logf("syncd logs:\n%s", logs.String())
		}
	})
	if _, err := d.Registry().Create(context.Background(), "t1", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	return d, "http://" + d.Addr()
}

// enrollDevice enrols a write device on t1 and writes its credential file (as syncctl
// token issue --device does).
func enrollDevice(t *testing.T, d *daemon.Daemon, server, name string) string {
	t.Helper()
	secret, rec, err := d.Auth().Devices().Enroll(context.Background(), "t1", "alice", auth.RoleWrite, name, "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"refresh_token": secret, "server": server, "tenant": "t1", "subject": "alice", "device": name, "device_id": rec.ID})
	p := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func secretOf(t *testing.T, path string) string {
	t.Helper()
	var c struct {
		RefreshToken string `json:"refresh_token"`
	}
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("credential file %s: %v", raw, err)
	}
	return c.RefreshToken
}

func putFile(t *testing.T, server, token, name, content string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", server+"/api/files/"+name, strings.NewReader(content))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %d", name, resp.StatusCode)
	}
}

func deviceRevoked(t *testing.T, d *daemon.Daemon) bool {
	t.Helper()
	devs, err := d.Auth().Devices().List(context.Background(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	for _, dv := range devs {
		if dv.RevokedAt != nil {
			return true
		}
	}
	return false
}

// TestDeviceCredentialAcrossLifetimes: a client on a device credential keeps its live
// connection across several 10 s access-token lifetimes: it refreshes ahead of
// expiry, sends Refresh on the socket, rewrites the file (0600) each time, and never
// drops the connection or resyncs.
func TestDeviceCredentialAcrossLifetimes(t *testing.T) {
	d, server := startShortTTLServer(t)
	cred := enrollDevice(t, d, server, "laptop")
	first := secretOf(t, cred)
	other, _, err := d.Auth().IssueTenantToken(context.Background(), "t1", "bob", auth.RoleWrite, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// No polling (interval 1h): only the live connection brings the files below.
	c := startClient(t, "device", server, cred, dir, "--realtime", "--interval", "1h")
	putFile(t, server, other, "start.txt", "0")
	eventually(t, waitLong, "first file", fileIs(filepath.Join(dir, "start.txt"), "0"))
	seen := map[string]bool{first: true}
	deadline := time.Now().Add(35 * time.Second) // three and a half access-token lifetimes
	for i := 1; time.Now().Before(deadline); i++ {
		time.Sleep(3 * time.Second)
		name := "f" + string(rune('a'+i)) + ".txt"
		putFile(t, server, other, name, "x")
		eventually(t, 15*time.Second, "live event "+name, fileIs(filepath.Join(dir, name), "x"))
		seen[secretOf(t, cred)] = true
	}
	if len(seen) < 4 {
		t.Fatalf("the credential was rotated %d times in 35 s with 10 s tokens", len(seen)-1)
	}
	st, err := os.Stat(cred)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file mode: %v %v", st, err)
	}
	logs := c.logs.String()
	if strings.Contains(logs, "live connection down") || strings.Contains(strings.ToLower(logs), "resync") {
		t.Fatalf("the live connection dropped or resynced:\n%s", logs)
	}
	if deviceRevoked(t, d) {
		t.Fatal("device revoked by its own rotations")
	}
}

// TestDeviceCredentialSecondClientRefused: a second client on the same credential
// file is refused at once with a clear error, and the first keeps working (no device
// revocation).
func TestDeviceCredentialSecondClientRefused(t *testing.T) {
	d, server := startShortTTLServer(t)
	cred := enrollDevice(t, d, server, "laptop")
	a, b := t.TempDir(), t.TempDir()
	startClient(t, "first", server, cred, a, "--realtime")
	eventually(t, waitLong, "first client holds the lock", func() bool { return secretOf(t, cred) != "" && fileExists(cred+".lock") })
	time.Sleep(500 * time.Millisecond)
	logs := &syncBuf{}
	code := Run(context.Background(), []string{"--server", server, "--local-path", b, "--token-file", cred, "--once"}, logs, logs)
	if code != ExitUsage || !strings.Contains(logs.String(), "in use by another client") {
		t.Fatalf("second client: exit %d\n%s", code, logs.String())
	}
	writeFile(t, filepath.Join(a, "still.txt"), "ok")
	eventually(t, waitLong, "first client still syncs", func() bool {
		tok, _, _ := d.Auth().IssueTenantToken(context.Background(), "t1", "bob", auth.RoleRead, time.Minute)
		req, _ := http.NewRequest("GET", server+"/api/files/still.txt", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if deviceRevoked(t, d) {
		t.Fatal("a refused second client must not revoke the device")
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestDeviceCredentialCrashWindows kills the real client process at each step of a
// rotation (after the server answered but before the file was rewritten; after the
// rewrite but before the new token was used): started again, it resumes without the
// device being revoked.
func TestDeviceCredentialCrashWindows(t *testing.T) {
	for _, step := range []string{"redeemed", "saved"} {
		t.Run(step, func(t *testing.T) {
			d, server := startShortTTLServer(t)
			cred := enrollDevice(t, d, server, "laptop")
			before := secretOf(t, cred)
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "--server", server, "--local-path", dir, "--token-file", cred, "--once")
			cmd.Env = append(os.Environ(), "RSC_CHILD=1", "RSC_CRASH_AT="+step)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != crashExit {
				t.Fatalf("child did not crash at %s: %v\n%s", step, err, out.String())
			}
			after := secretOf(t, cred)
			if (step == "redeemed") != (after == before) {
				t.Fatalf("step %s: file secret changed=%v", step, after != before)
			}
			writeFile(t, filepath.Join(dir, "after-crash.txt"), step)
			if code, logs := runOnce(t, server, cred, dir); code != 0 {
				t.Fatalf("restart after a crash at %s: exit %d\n%s", step, code, logs)
			}
			if deviceRevoked(t, d) {
				t.Fatalf("a crash at %s revoked the device", step)
			}
			if secretOf(t, cred) == after {
				t.Fatal("the restarted client did not rotate")
			}
		})
	}
}

// TestDeviceRevokeClosesRefreshedSocket: after the client refreshed its token on the
// live socket, revoking the device closes that socket (4005) and the client stops
// with a clear error instead of retrying for ever.
func TestDeviceRevokeClosesRefreshedSocket(t *testing.T) {
	d, server := startShortTTLServer(t)
	cred := enrollDevice(t, d, server, "laptop")
	dir := t.TempDir()
	c := startClient(t, "device", server, cred, dir, "--realtime")
	first := secretOf(t, cred)
	eventually(t, waitLong, "two rotations", func() bool {
		s := secretOf(t, cred)
		return s != first && strings.Contains(c.logs.String(), "device token refreshed")
	})
	devs, _ := d.Auth().Devices().List(context.Background(), "t1")
	start := time.Now()
	if err := d.Auth().Devices().Revoke(context.Background(), devs[0].ID); err != nil {
		t.Fatal(err)
	}
	code, ok := c.exited(15 * time.Second)
	if !ok || code != ExitFailure {
		t.Fatalf("client after revocation: exited=%v code %d\n%s", ok, code, c.logs.String())
	}
	logs := c.logs.String()
	if !strings.Contains(logs, "4005") || !strings.Contains(logs, "refused the device credential") {
		t.Fatalf("logs do not show the 4005 close and the refusal:\n%s", logs)
	}
	t.Logf("client stopped %v after the revocation", time.Since(start).Round(time.Millisecond))
}
