package ctl

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
)

func redeem(t *testing.T, addr, secret string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": secret})
	resp, err := http.Post("http://"+addr+"/api/token", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// TestDeviceCredentials: a device enrolled with syncctl against a real syncd redeems
// its secret at /api/token; reusing a spent secret revokes the device and closes its
// live socket with 4005 within a second; device list and revoke work locally and
// remotely.
func TestDeviceCredentials(t *testing.T) {
	d, data := startSyncd(t)
	addr := d.Addr()
	dir := t.TempDir()
	L := func(args ...string) result { return run(t, append(args, "--data", data)...) }
	L("tenant", "create", "acme").must(t)
	credFile := filepath.Join(dir, "laptop.json")
	L("token", "issue", "--tenant", "acme", "--subject", "alice", "--role", "write", "--device", "laptop", "--out", credFile, "--public-url", "https://sync.example.com/").must(t)
	st, err := os.Stat(credFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", st, err)
	}
	var cred DeviceCredential
	raw, _ := os.ReadFile(credFile)
	if err := json.Unmarshal(raw, &cred); err != nil || cred.Server != "https://sync.example.com" || cred.Tenant != "acme" || cred.Subject != "alice" || cred.Device != "laptop" || !strings.HasPrefix(cred.RefreshToken, "ssr_") {
		t.Fatalf("credential %s %v", raw, err)
	}
	if r := L("token", "issue", "--tenant", "acme", "--subject", "alice", "--role", "write", "--device", "laptop", "--out", filepath.Join(dir, "x.json")); r.code != 1 {
		t.Fatalf("a second live device of one name: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.json")); err == nil {
		t.Fatal("a refused enrolment must leave no file")
	}
	code, g := redeem(t, addr, cred.RefreshToken)
	if code != 200 {
		t.Fatalf("redeem: %d %v", code, g)
	}
	access := g["access_token"].(string)
	if apiStatus(t, addr, access) != 200 {
		t.Fatal("device access token refused")
	}
	hdr := http.Header{"Authorization": {"Bearer " + access}}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// Spend the new secret, then present the old one: reuse, the device is revoked.
	if code, _ := redeem(t, addr, g["refresh_token"].(string)); code != 200 {
		t.Fatal("second redemption refused")
	}
	start := time.Now()
	if code, m := redeem(t, addr, cred.RefreshToken); code != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", code, m)
	}
	ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, 4005) {
			t.Fatalf("socket not closed with 4005: %v", err)
		}
		break
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Fatalf("socket closed after %v", el)
	}
	if apiStatus(t, addr, access) != 401 {
		t.Fatal("revoked device's token still accepted")
	}
	var devs []auth.DeviceRecord
	json.Unmarshal([]byte(L("device", "list", "--json").must(t).stdout), &devs)
	if len(devs) != 1 || devs[0].RevokedAt == nil || devs[0].LastAddress != "127.0.0.1" || devs[0].LastUsedAt == nil {
		t.Fatalf("devices %+v", devs)
	}
	if r := L("device", "list"); !strings.Contains(r.stdout, "laptop") || !strings.Contains(r.stdout, "127.0.0.1") {
		t.Fatalf("table %q", r.stdout)
	}
	if r := L("audit"); !strings.Contains(r.stdout, "device.refresh_reuse") {
		t.Fatalf("reuse not audited: %s", r.stdout)
	}

	// Remote mode: enrol, list, revoke over /admin/devices.
	opsFile := filepath.Join(dir, "ops.token")
	L("token", "issue", "--ops", "--subject", "root", "--out", opsFile).must(t)
	R := func(args ...string) result {
		return run(t, append([]string{"--server", "http://" + addr, "--token-file", opsFile}, args...)...)
	}
	phone := filepath.Join(dir, "phone.json")
	R("token", "issue", "--tenant", "acme", "--subject", "bob", "--role", "read", "--device", "phone", "--out", phone).must(t)
	raw, _ = os.ReadFile(phone)
	json.Unmarshal(raw, &cred)
	if cred.Server != "http://"+addr {
		t.Fatalf("remote credential server %q", cred.Server)
	}
	code, g = redeem(t, addr, cred.RefreshToken)
	if code != 200 {
		t.Fatalf("redeem remote-enrolled: %d %v", code, g)
	}
	json.Unmarshal([]byte(R("device", "list", "--tenant", "acme", "--json").must(t).stdout), &devs)
	if len(devs) != 2 || devs[1].Name != "phone" {
		t.Fatalf("remote devices %+v", devs)
	}
	R("device", "revoke", devs[1].ID).must(t)
	if apiStatus(t, addr, g["access_token"].(string)) != 401 {
		t.Fatal("remotely revoked device's token still accepted")
	}
	if code, _ := redeem(t, addr, g["refresh_token"].(string)); code != 400 {
		t.Fatal("revoked device redeemed")
	}
}

// TestDeviceTTLFromSyncd: syncctl in local mode enrols devices with the
// auth.device_ttl the syncd of that data dir recorded.
func TestDeviceTTLFromSyncd(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "syncd.json")
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": data, "log": map[string]any{"level": "error"},
		"auth": map[string]any{"device_ttl": "48h"}})
	os.WriteFile(cfg, b, 0o600)
	d, err := daemon.Start(context.Background(), []string{"-config", cfg}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	run(t, "tenant", "create", "acme", "--data", data).must(t)
	run(t, "token", "issue", "--tenant", "acme", "--subject", "a", "--role", "read", "--device", "pc", "--out", filepath.Join(dir, "pc.json"), "--data", data).must(t)
	var devs []auth.DeviceRecord
	json.Unmarshal([]byte(run(t, "device", "list", "--json", "--data", data).must(t).stdout), &devs)
	if len(devs) != 1 || time.Until(devs[0].ExpiresAt) > 48*time.Hour || time.Until(devs[0].ExpiresAt) < 47*time.Hour {
		t.Fatalf("device expiry %+v, want in 48h", devs)
	}
}
