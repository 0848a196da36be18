//go:build !windows

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/config/servicetest"
)

// ownRedis is a redis-server of the test's own on a loopback port, so that stopping it
// touches no other test.
type ownRedis struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if servicetest.Required() {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	servicetest.PostgresServer(t) // the nodes need PostgreSQL: skip before starting anything
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &ownRedis{addr: l.Addr().String()}
	l.Close()
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) url() string { return "redis://" + r.addr + "/0" }

func (r *ownRedis) start(t *testing.T) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
	}
}

// stop kills the server (a crash: nothing is said to the clients); it is idempotent.
func (r *ownRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// readyz returns GET /readyz's status and its "degraded" list.
func readyz(t *testing.T, d *Daemon) (int, []string) {
	t.Helper()
	resp, err := http.Get("http://" + d.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status   string   `json:"status"`
		Degraded []string `json:"degraded"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	if resp.StatusCode == http.StatusOK && body.Status != "ready" {
		t.Fatalf("/readyz 200 with status %q", body.Status)
	}
	return resp.StatusCode, body.Degraded
}

// metric returns the value of the unlabelled metric name in the node's GET /metrics.
func metric(t *testing.T, d *Daemon, ops, name string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.Addr()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+ops)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in /metrics:\n%s", name, b)
	return ""
}

// waitDegraded waits until the node's /readyz answers 200 with the bus degraded (want
// true) or plain ready, and /metrics agrees.
func waitDegraded(t *testing.T, d *Daemon, ops string, want bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, deg := readyz(t, d)
		gauge := metric(t, d, ops, "syncd_bus_degraded")
		okBody := st == http.StatusOK && (want && fmt.Sprint(deg) == "[bus]" || !want && len(deg) == 0)
		if okBody && gauge == map[bool]string{true: "1", false: "0"}[want] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want degraded=%v: /readyz %d degraded %v, syncd_bus_degraded %s", want, st, deg, gauge)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReceiveOnlyNodeDegradedRedis: a node that commits nothing and whose Redis
// subscription is down answers /readyz 200 with "degraded":["bus"] and shows
// syncd_bus_degraded 1; once Redis is back it answers plain ready again.
func TestReceiveOnlyNodeDegradedRedis(t *testing.T) {
	r := startOwnRedis(t)
	d := startCluster(t, 1, r.url())[0]
	ops, _, err := d.Auth().IssueOpsToken(context.Background(), "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	waitDegraded(t, d, ops, false)
	r.stop()
	waitDegraded(t, d, ops, true)
	r.start(t)
	waitDegraded(t, d, ops, false)
}

// TestReceiveOnlyNodeDegradedListen: the same over LISTEN/NOTIFY. The node's
// database refuses new connections and its listening connection is ended: the node
// stays ready (its pooled connections answer) but reports the bus degraded until the
// database accepts connections again.
func TestReceiveOnlyNodeDegradedListen(t *testing.T) {
	d := startCluster(t, 1, "postgres")[0]
	ctx := context.Background()
	ops, _, err := d.Auth().IssueOpsToken(ctx, "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	waitDegraded(t, d, ops, false)
	cfg, err := pgx.ParseConfig(d.Config().Cluster.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	db := pgx.Identifier{cfg.Database}.Sanitize()
	// A database cannot refuse its own session: administer from the maintenance one.
	admin, err := pgx.Connect(ctx, servicetest.PostgresServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	allow := func(on bool) {
		t.Helper()
		if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", db, on)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	t.Cleanup(func() { _, _ = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS true", db)) })
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND query ILIKE 'listen %'`, cfg.Database).Scan(&killed); err != nil || killed == 0 {
		t.Fatalf("terminated %d listening connections: %v", killed, err)
	}
	waitDegraded(t, d, ops, true)
	allow(true)
	waitDegraded(t, d, ops, false)
}

// wsReader subscribes on d and sends every FileOperation seq it reads to seqs.
func wsReader(t *testing.T, d *Daemon, token string) <-chan int64 {
	t.Helper()
	// the tenant and the token's key reach this node within a second (15 s: room for a
	// loaded machine)
	ws := subscribed(t, d, token, "reader", 15*time.Second)
	seqs := make(chan int64, 1000)
	go func() {
		defer close(seqs)
		for {
			var ev struct {
				Type string `json:"type"`
				Seq  int64  `json:"seq"`
			}
			if err := ws.ReadJSON(&ev); err != nil {
				return
			}
			if ev.Type == "FileOperation" {
				seqs <- ev.Seq
			}
		}
	}()
	return seqs
}

// TestUploadsDoNotWaitForTheBus: with the nodes' Redis killed, an upload on node A
// answers as fast as with Redis up (it used to wait for the publish to time out, about
// a second each); a subscriber on node B still gets every seq once and in order,
// through the head check, and after Redis is back.
func TestUploadsDoNotWaitForTheBus(t *testing.T) {
	r := startOwnRedis(t)
	nodes := startCluster(t, 2, r.url())
	a, b := nodes[0], nodes[1]
	writer, reader := teamTokens(t, a)
	seqs := wsReader(t, b, reader)
	next := int64(1)
	upload := func(phase string, k int) (slowest time.Duration) {
		t.Helper()
		for i := 0; i < k; i++ {
			req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/api/files/%s-%02d.txt", a.Addr(), phase, i), strings.NewReader(phase))
			req.Header.Set("Authorization", "Bearer "+writer)
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			slowest = max(slowest, time.Since(start))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("%s: PUT on A: %d", phase, resp.StatusCode)
			}
		}
		return slowest
	}
	expect := func(phase string, k int) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for last := next + int64(k); next < last; next++ {
			select {
			case s, ok := <-seqs:
				if !ok || s != next {
					t.Fatalf("%s: B got seq %d (open %v), want %d", phase, s, ok, next)
				}
			case <-timeout:
				t.Fatalf("%s: B is still waiting for seq %d", phase, next)
			}
		}
	}
	const k = 10
	up := upload("up", k)
	expect("up", k)
	r.stop()
	down := upload("down", k)
	expect("down", k)
	t.Logf("slowest upload: %v with the bus up, %v with it down", up.Round(time.Millisecond), down.Round(time.Millisecond))
	if down >= 500*time.Millisecond {
		t.Errorf("an upload took %v with the bus down: the commit waited for the bus", down)
	}
	if !a.Registry().Stats().BusDown {
		t.Error("A does not report the bus down")
	}
	// The notices A could not publish show in its /metrics.
	ops, _, err := a.Auth().IssueOpsToken(context.Background(), "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); metric(t, a, ops, "syncd_bus_notices_dropped_total") == "0"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("syncd_bus_notices_dropped_total stays 0 after publishes to a dead bus")
		}
	}
	r.start(t)
	upload("back", k)
	expect("back", k)
	select {
	case s := <-seqs:
		t.Fatalf("B got an extra seq %d", s)
	case <-time.After(300 * time.Millisecond):
	}
}
