//go:build linux

package daemon

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nonLoopbackIP returns an IPv4 address of this machine that is not loopback, or skips.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}

// TestLoopbackNameResolvingElsewhereIsRefused: "localhost" counts as loopback in the
// config, but what decides is the address syncd binds. With an /etc/hosts that maps
// localhost to a LAN address (a private mount namespace here), the embedded default
// must not serve plain HTTP and the admin API there: syncd refuses to start (exit 1,
// one line naming listen), as for any non-loopback address without "tls":{"mode":"off"}.
func TestLoopbackNameResolvingElsewhereIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs syncd in a mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare")
	}
	if out, err := exec.Command(unshare, "-m", "true").CombinedOutput(); err != nil {
		t.Skipf("no private mount namespace here: %v %s", err, out)
	}
	bin := syncdBinary(t)
	dir := t.TempDir()
	ip := nonLoopbackIP(t)
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte(ip+" localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-m", "sh", "-c", `mount --bind "$1" /etc/hosts && exec "$2"`, "sh", hosts, bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SYNCD_LISTEN=localhost:0", "SYNCD_LOG_LEVEL=warn")
	cmd.WaitDelay = 5 * time.Second
	var stderr syncBuffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "syncd: config: listen:") || !strings.Contains(stderr.String(), ip) {
			t.Fatalf("exit %d (%v), want 1 and a line naming listen and %s:\n%s", code, err, ip, stderr.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("syncd started, serving plain HTTP on %s:\n%s", ip, stderr.String())
	}
}
