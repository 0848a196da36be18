package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/internal/testbin"
	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
)

// The services of the cluster scenarios, from the same environment variables as the
// project's service tests (.ci/services writes them).
const (
	envPostgres    = "SYNCSPACE_TEST_POSTGRES"
	envRedis       = "SYNCSPACE_TEST_REDIS"
	envS3Endpoint  = "SYNCSPACE_TEST_S3_ENDPOINT"
	envS3AccessKey = "SYNCSPACE_TEST_S3_ACCESS_KEY"
	envS3SecretKey = "SYNCSPACE_TEST_S3_SECRET_KEY"
	envNginx       = "SYNCSPACE_TEST_NGINX"
)

// clusterKit is what the cluster scenarios take from the machine: the PostgreSQL
// server (required), optional Redis, S3 and nginx, the syncd binary and the CPU quota.
type clusterKit struct {
	pgServer string // URL of the server's maintenance database
	redis    string // redis://… or ""
	s3       s3Service
	nginx    string // path of nginx or ""
	syncd    string // path of the syncd binary
	cpu      *cpuLimiter
}

// s3Service is an S3-compatible endpoint and its credentials ("" endpoint: none).
type s3Service struct{ endpoint, access, secret string }

// errNoServices says why the cluster scenarios cannot run (their rows are skipped).
type errNoServices struct{ why string }

func (e errNoServices) Error() string { return e.why }

// newClusterKit reads the environment and finds (builds) the syncd binary.
func newClusterKit() (*clusterKit, error) {
	k := &clusterKit{
		pgServer: strings.TrimSpace(os.Getenv(envPostgres)),
		redis:    strings.TrimSpace(os.Getenv(envRedis)),
		s3: s3Service{strings.TrimSpace(os.Getenv(envS3Endpoint)), os.Getenv(envS3AccessKey),
			os.Getenv(envS3SecretKey)},
		nginx: strings.TrimSpace(os.Getenv(envNginx)),
	}
	if k.pgServer == "" {
		return nil, errNoServices{"no PostgreSQL (" + envPostgres + " unset; source the services' env file)"}
	}
	if k.nginx == "" {
		if p, err := exec.LookPath("nginx"); err == nil {
			k.nginx = p
		}
	}
	dir, err := testbin.Dir()
	if err != nil {
		return nil, fmt.Errorf("build syncd: %w", err)
	}
	k.syncd = filepath.Join(dir, testbin.Syncd)
	k.cpu = newCPULimiter()
	return k, nil
}

// randomName returns prefix + 12 random hex characters.
func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// createDB creates an empty database on the server and returns its URL and a function
// dropping it (with its connections).
func (k *clusterKit) createDB(ctx context.Context) (string, func(), error) {
	name := randomName("syncbench_")
	conn, err := pgx.Connect(ctx, k.pgServer)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(k.pgServer)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, k.pgServer); err == nil {
			_, _ = c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			c.Close(ctx)
		}
	}
	return u.String(), drop, nil
}

// syncNode is one syncd child process.
type syncNode struct {
	p       *proc
	base    string // http://127.0.0.1:PORT
	release func() // leaves the CPU cgroup
}

// stop ends the node (SIGTERM, then SIGKILL) and removes its cgroup.
func (n *syncNode) stop() {
	if n == nil {
		return
	}
	n.p.stop()
	n.release()
}

// kill9 sends SIGKILL to the node and waits for it to end.
func (n *syncNode) kill9() {
	killNow(n.p.cmd.Process)
	<-n.p.done
}

// startNode writes cfg (with a free loopback port as listen) into dir and starts syncd
// on it with GOMAXPROCS=1 (plus env), under the CPU quota; it returns once /readyz
// answers 200.
func (k *clusterKit) startNode(ctx context.Context, dir, name string, cfg map[string]any, env []string) (*syncNode, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg["listen"] = addr
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".json")
	if err := writeConfig(path, cfg); err != nil {
		return nil, err
	}
	p, err := startProc(name, dir, k.syncd, []string{"-config", path}, append([]string{"GOMAXPROCS=1"}, env...))
	if err != nil {
		return nil, err
	}
	n := &syncNode{p: p, base: "http://" + addr, release: k.cpu.limit(p.cmd.Process.Pid, name)}
	// /readyz answers 503 until the node is ready, which waitHTTP waits through
	if err := waitHTTP(ctx, p, n.base+"/readyz", 60*time.Second, false); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

// nodeConfig is a node's config: the benchmark defaults (benchConfig) with warn logs,
// plus auth.kek_file and the cluster section when cluster is not nil.
func nodeConfig(dataDir, kek string, cluster map[string]any) map[string]any {
	cfg := benchConfig(dataDir, "")
	cfg["log"] = map[string]string{"level": "warn"}
	cfg["trusted_proxies"] = []string{"127.0.0.1/32"}
	if cluster != nil {
		cfg["auth"] = map[string]any{"kek_file": kek}
		cfg["cluster"] = cluster
	}
	return cfg
}

// syncCluster is n syncd nodes on one database.
type syncCluster struct {
	k     *clusterKit
	nodes []*syncNode
	pg    string
	kek   string
	admin []string // syncctl's flags reaching the store
	drop  func()
}

// startCluster starts n nodes on a fresh database with the bus and blobs given
// ("dir" blobs: a directory under dir), env added to each node's environment.
func (k *clusterKit) startCluster(ctx context.Context, dir string, n int, bus, blobs string, env []string) (*syncCluster, error) {
	pg, drop, err := k.createDB(ctx)
	if err != nil {
		return nil, err
	}
	c := &syncCluster{k: k, pg: pg, drop: drop, kek: filepath.Join(dir, "kek")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.stop()
		return nil, err
	}
	if err := auth.WriteKEKFile(c.kek); err != nil {
		c.stop()
		return nil, err
	}
	c.admin = []string{"--postgres", pg, "--kek-file", c.kek}
	if blobs == "dir" {
		blobs = "dir:" + filepath.Join(dir, "blobs")
	}
	for i := range n {
		cl := map[string]any{"postgres": pg, "bus": bus, "blobs": blobs, "node_id": fmt.Sprintf("n%d", i+1)}
		name := fmt.Sprintf("node%d", i+1)
		node, err := k.startNode(ctx, dir, name, nodeConfig(filepath.Join(dir, name), c.kek, cl), env)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, node)
	}
	return c, nil
}

// startSingle starts one single-node syncd (SQLite, local disk) as a "cluster" of one
// whose admin flags use syncctl's local mode.
func (k *clusterKit) startSingle(ctx context.Context, dir string) (*syncCluster, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	c := &syncCluster{k: k, admin: []string{"--data", data}}
	node, err := k.startNode(ctx, dir, "single", nodeConfig(data, "", nil), nil)
	if err != nil {
		return nil, err
	}
	c.nodes = []*syncNode{node}
	return c, nil
}

// stop ends every node and drops the database.
func (c *syncCluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
	if c.drop != nil {
		c.drop()
	}
}

// ctl runs syncctl in this process against the cluster's store.
func (c *syncCluster) ctl(ctx context.Context, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	if code := ctl.Run(ctx, append(append([]string{}, c.admin...), args...), &out, &errOut); code != 0 {
		return "", fmt.Errorf("syncctl %s: %s", args[0]+" "+args[1], strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// tenants creates the tenants named and returns a write token for each.
func (c *syncCluster) tenants(ctx context.Context, names []string) ([]string, error) {
	toks := make([]string, len(names))
	for i, name := range names {
		if _, err := c.ctl(ctx, "tenant", "create", name); err != nil {
			return nil, err
		}
		tok, err := c.ctl(ctx, "token", "issue", "--tenant", name, "--subject", "bench", "--role", "write", "--ttl", "24h")
		if err != nil {
			return nil, err
		}
		toks[i] = tok
	}
	return toks, nil
}

// cpuLimiter puts each node under a CPU quota of one CPU: a cgroup v2 cpu.max where
// the machine has a writable cgroup v2 cpu controller, else the cgroup v1 CFS quota,
// else nothing. note says which, for the rows.
type cpuLimiter struct {
	root string // the directory new cgroups are made in ("" = no quota)
	v2   bool
	note string
}

// newCPULimiter probes /sys/fs/cgroup by making (and removing) a cgroup.
func newCPULimiter() *cpuLimiter {
	var why []string
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		if err != nil || !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " cpu ") {
			continue
		}
		// the cpu controller must be enabled for the children of root
		_ = os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+cpu"), 0o644)
		l := &cpuLimiter{root: root, v2: true, note: "cgroup v2 cpu.max 1 CPU per node"}
		err = l.probe()
		if err == nil {
			return l
		}
		why = append(why, "cgroup v2: "+err.Error())
	}
	if len(why) == 0 {
		why = append(why, "no cgroup v2 cpu controller")
	}
	v1 := "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(v1, "cpu.cfs_quota_us")); err == nil {
		l := &cpuLimiter{root: v1, note: "cgroup v1 cpu.cfs_quota_us 1 CPU per node (" + strings.Join(why, "; ") + ")"}
		err := l.probe()
		if err == nil {
			return l
		}
		why = append(why, "cgroup v1: "+err.Error())
	}
	return &cpuLimiter{note: "no CPU quota (" + strings.Join(why, "; ") + "): GOMAXPROCS=1 only"}
}

// probe makes and removes one cgroup with the quota set.
func (l *cpuLimiter) probe() error {
	d, err := l.make("probe")
	if err != nil {
		return err
	}
	return os.Remove(d)
}

// make creates a cgroup with a quota of one CPU and returns its directory.
func (l *cpuLimiter) make(name string) (string, error) {
	d := filepath.Join(l.root, randomName("syncbench-"+name+"-"))
	if err := os.Mkdir(d, 0o755); err != nil {
		return "", err
	}
	var err error
	if l.v2 {
		err = os.WriteFile(filepath.Join(d, "cpu.max"), []byte("100000 100000"), 0o644)
	} else {
		err = errors.Join(os.WriteFile(filepath.Join(d, "cpu.cfs_period_us"), []byte("100000"), 0o644),
			os.WriteFile(filepath.Join(d, "cpu.cfs_quota_us"), []byte("100000"), 0o644))
	}
	if err != nil {
		os.Remove(d)
		return "", err
	}
	return d, nil
}

// limit moves process pid into a new cgroup of one CPU and returns the function that
// removes the cgroup once the process has ended (a no-op without quota).
func (l *cpuLimiter) limit(pid int, name string) func() {
	if l.root == "" {
		return func() {}
	}
	d, err := l.make(name)
	if err != nil {
		return func() {}
	}
	if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0o644); err != nil {
		os.Remove(d)
		return func() {}
	}
	return func() {
		for i := 0; i < 50; i++ { // the process may take a moment to leave
			if err := os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
