package docscheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// verifyUnit runs `systemd-analyze [--user] verify` on unit (a path) with
// SYSTEMD_UNIT_PATH at its directory (so that drop-ins beside it count) and fails on
// any complaint, warnings included.
func verifyUnit(t *testing.T, sa, unit string, user bool) {
	t.Helper()
	args := []string{"verify", unit}
	if user {
		args = append([]string{"--user"}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sa, args...)
	rt := t.TempDir()
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+filepath.Dir(unit)+":", "XDG_RUNTIME_DIR="+rt, "SYSTEMD_LOG_LEVEL=notice")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestSystemdUnitsVerify checks docs/deploy's units with systemd-analyze verify, where
// it is installed: syncd.service alone and with the ACME drop-in, and the client's user
// unit. The binaries named in ExecStart are replaced by an executable that exists here
// (verify checks that). The syncd unit must keep its hardening.
func TestSystemdUnitsVerify(t *testing.T) {
	syncd := readDoc(t, "docs/deploy/syncd.service")
	client := readDoc(t, "docs/deploy/realtime-sync-client.service")
	acme := readDoc(t, "docs/deploy/syncd-acme.conf")
	for _, want := range []string{"User=syncd", "ProtectSystem=strict", "ReadWritePaths=/var/lib/syncd", "NoNewPrivileges=true", "CapabilityBoundingSet=\n", "AmbientCapabilities=\n", "ExecStart=/usr/local/bin/syncd -config /etc/syncd/syncd.json"} {
		if !strings.Contains(syncd, want) {
			t.Errorf("syncd.service lacks %q", want)
		}
	}
	if !strings.Contains(acme, "AmbientCapabilities=CAP_NET_BIND_SERVICE\n") || !strings.Contains(acme, "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n") {
		t.Error("syncd-acme.conf does not grant exactly CAP_NET_BIND_SERVICE")
	}
	deploy := readDoc(t, "docs/DEPLOY.md")
	for _, f := range []string{"deploy/syncd.service", "deploy/syncd-acme.conf", "deploy/realtime-sync-client.service", "deploy/syncd.nginx.conf", "../cmd/syncd/Dockerfile"} {
		if !strings.Contains(deploy, "("+f+")") {
			t.Errorf("docs/DEPLOY.md does not link %s", f)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unit := write("plain/syncd.service", strings.ReplaceAll(syncd, "/usr/local/bin/syncd", self))
	verifyUnit(t, sa, unit, false)
	unit = write("acme/syncd.service", strings.ReplaceAll(syncd, "/usr/local/bin/syncd", self))
	write("acme/syncd.service.d/acme.conf", acme)
	verifyUnit(t, sa, unit, false)
	unit = write("user/realtime-sync-client.service", strings.ReplaceAll(client, "%h/go/bin/realtime-sync-client", self))
	verifyUnit(t, sa, unit, true)

}

// dockerfile returns cmd/syncd/Dockerfile with continuation lines joined.
func dockerfile(t *testing.T) []string {
	t.Helper()
	text := strings.ReplaceAll(readDoc(t, "cmd/syncd/Dockerfile"), "\\\n", " ")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestDockerfileStatic checks cmd/syncd/Dockerfile without Docker: multi-stage, a
// static trimmed build, and a final stage that runs as a non-root user with /data as a
// volume and `syncd -healthcheck` as its health check.
func TestDockerfileStatic(t *testing.T) {
	lines := dockerfile(t)
	var stages [][]string
	for _, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], l)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("not multi-stage: %d FROM", len(stages))
	}
	build := strings.Join(stages[0], "\n")
	for _, want := range []string{"CGO_ENABLED=0", "go build -trimpath", "./cmd/syncd"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	final := stages[len(stages)-1]
	var user, volume, health string
	for _, l := range final {
		switch f := strings.Fields(l); strings.ToUpper(f[0]) {
		case "USER":
			user = f[1]
		case "VOLUME":
			volume = l
		case "HEALTHCHECK":
			health = l
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER %q: must be a non-root user", user)
	}
	if !strings.Contains(volume, "/data") {
		t.Errorf("final stage VOLUME %q: want /data", volume)
	}
	if !regexp.MustCompile(`CMD \["[^"]*syncd", "-healthcheck"`).MatchString(health) {
		t.Errorf("final stage HEALTHCHECK %q: want syncd -healthcheck", health)
	}
}

// TestDockerImage builds the image and runs it with docs/deploy/syncd.container.json
// until Docker reports it healthy and /readyz answers through the published port. It
// runs only where a Docker daemon answers.
func TestDockerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	run := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, docker, args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := run("info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Skipf("no Docker daemon answers: %s", out)
	}
	root := repoRoot(t)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	tag := "syncd-test:" + hex.EncodeToString(suffix)
	if out, err := run("build", "-f", filepath.Join(root, "cmd", "syncd", "Dockerfile"), "-t", tag, root); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	defer run("rmi", "-f", tag)
	cfg := filepath.Join(root, "docs", "deploy", "syncd.container.json")
	id, err := run("run", "-d", "-p", "127.0.0.1::8080", "-v", cfg+":/etc/syncd/syncd.json:ro", tag)
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, id)
	}
	defer run("rm", "-f", "-v", id)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		status, _ := run("inspect", "--format", "{{.State.Health.Status}}", id)
		if status == "healthy" {
			break
		}
		if time.Now().After(deadline) || status == "unhealthy" {
			logs, _ := run("logs", id)
			t.Fatalf("container health %q\n%s", status, logs)
		}
		time.Sleep(time.Second)
	}
	port, err := run("port", id, "8080/tcp")
	if err != nil {
		t.Fatalf("docker port: %v %s", err, port)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/readyz", strings.Split(port, "\n")[0]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz: %d", resp.StatusCode)
	}
	if who, err := run("exec", id, "/usr/local/bin/syncctl", "--data", "/data", "tenant", "create", "docker-test"); err != nil {
		t.Fatalf("syncctl in the container: %v %s", err, who)
	}
}
