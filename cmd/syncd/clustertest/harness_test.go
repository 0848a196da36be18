//go:build !windows

package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/internal/testbin"
	"github.com/syncspace/syncspace/config/nginxconf"
	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

// logBuf is a goroutine-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) add(s string) { l.mu.Lock(); l.b.WriteString(s + "\n"); l.mu.Unlock() }
func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// node is one syncd process.
type node struct {
	cmd    *exec.Cmd
	addr   string
	log    *logBuf
	exited chan struct{}
}

// kill sends SIGKILL and waits for the process to end.
func (n *node) kill(t *testing.T) {
	t.Helper()
	_ = n.cmd.Process.Kill()
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		t.Error("killed syncd did not exit") // may run on an uploader goroutine: no Fatal
	}
}

// cluster is three syncd nodes behind nginx, with the tools to administer them.
type cluster struct {
	nodes   []*node
	proxy   string // host:port of nginx
	pg, kek string
	blobs   string // the nodes' shared dir: blob store
}

var addrRE = regexp.MustCompile(`msg="syncd listening" addr=(\S+)`)

// needServices skips under -short; servicetest skips (or fails when services are
// required) when PostgreSQL, Redis or nginx are absent.
func needServices(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster fault tests run three syncd processes and nginx")
	}
	servicetest.Nginx(t)
	servicetest.PostgresServer(t)
}

// startCluster starts three syncd processes on a fresh database, the bus URL and one
// blob dir, then nginx in front of them. extra keys join each node's cluster section.
func startCluster(t *testing.T, bus string, extra ...map[string]any) *cluster {
	t.Helper()
	return startClusterOn(t, pgtest.Postgres(t), bus, extra...)
}

// startClusterOn is startCluster on the PostgreSQL database at pg.
func startClusterOn(t *testing.T, pg, bus string, extra ...map[string]any) *cluster {
	t.Helper()
	c := &cluster{pg: pg}
	dir := t.TempDir()
	c.blobs = filepath.Join(dir, "blobs")
	c.kek = filepath.Join(dir, "kek")
	if err := auth.WriteKEKFile(c.kek); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		cfg := filepath.Join(dir, fmt.Sprintf("c%d.json", i))
		cl := map[string]any{"postgres": c.pg, "bus": bus, "blobs": "dir:" + c.blobs, "node_id": fmt.Sprintf("n%d", i)}
		for _, e := range extra {
			maps.Copy(cl, e)
		}
		b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, fmt.Sprintf("data%d", i)),
			"auth": map[string]any{"kek_file": c.kek}, "cluster": cl})
		if err := os.WriteFile(cfg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, startNode(t, cfg))
	}
	c.proxy = startNginx(t, filepath.Join(dir, "nginx"), c.nodes)
	return c
}

func startNode(t *testing.T, cfg string) *node {
	t.Helper()
	cmd := exec.Command(testbin.Path(t, testbin.Syncd), "-config", cfg)
	cmd.Env = append(os.Environ(), "SYNCD_LOG_LEVEL=info")
	n := &node{cmd: cmd, log: &logBuf{}, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			n.log.add(sc.Text())
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() { _ = cmd.Wait(); pw.Close(); close(n.exited) }()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("syncd %s log:\n%s", cfg, n.log)
		}
	})
	select {
	case n.addr = <-found:
	case <-n.exited:
		t.Fatalf("syncd exited:\n%s", n.log)
	case <-time.After(60 * time.Second):
		t.Fatalf("syncd did not start:\n%s", n.log)
	}
	return n
}

// freePort returns a loopback port free at the time of the call.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNginx runs nginx in the foreground as the test's child, round robin over nodes,
// and returns its loopback address once it accepts connections.
func startNginx(t *testing.T, dir string, nodes []*node) string {
	t.Helper()
	servers := make([]string, len(nodes))
	for i, n := range nodes {
		servers[i] = n.addr
	}
	listen := freePort(t)
	args, err := nginxconf.Write(dir, listen, servers, nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	servicetest.RunNginx(t, dir, args, listen)
	return listen
}

// ctl runs syncctl against the cluster's database and returns its stdout.
func (c *cluster) ctl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testbin.Path(t, testbin.Ctl), append(args, "--postgres", c.pg, "--kek-file", c.kek)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("syncctl %v: %v\n%s", args, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// tenant creates tenant name (extra flags such as --quota) and returns a write and a
// read token for it.
func (c *cluster) tenant(t *testing.T, name string, extra ...string) (writer, reader string) {
	t.Helper()
	c.ctl(t, append([]string{"tenant", "create", name}, extra...)...)
	writer = c.ctl(t, "token", "issue", "--tenant", name, "--subject", "w", "--role", "write")
	reader = c.ctl(t, "token", "issue", "--tenant", name, "--subject", "r", "--role", "read")
	return writer, reader
}
