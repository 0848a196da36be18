//go:build !windows

package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
)

// ownPostgres is a PostgreSQL server of the test's own (never the shared one: this
// test stops it), as .ci/services starts one: initdb into a temp dir owned by the
// postgres user when the test runs as root (PostgreSQL refuses root), loopback port.
type ownPostgres struct {
	bin  string // directory of pg_ctl, initdb
	dir  string // state: data, socket, log
	port string
	as   []string // runuser -u postgres -- when root
}

// findPostgres returns the directory of PostgreSQL's server binaries, or skips t
// (fails it when services are required).
func findPostgres(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		dirs = append([]string{filepath.Dir(p)}, dirs...)
	}
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, "initdb")); err == nil && !st.IsDir() {
			return d
		}
	}
	if servicetest.Required() {
		t.Fatalf("PostgreSQL server binaries (initdb, pg_ctl) not found in PATH or /usr/lib/postgresql/*/bin (%s=1)", servicetest.EnvRequired)
	}
	t.Skip("this test starts and stops its own PostgreSQL: install its server binaries (initdb, pg_ctl; Debian package postgresql)")
	return ""
}

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	p := &ownPostgres{bin: findPostgres(t)}
	_, p.port, _ = net.SplitHostPort(freePort(t))
	// Not t.TempDir: its parents are private to root, and the server runs as postgres.
	base, err := os.MkdirTemp("", "syncspace-pgrestart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	p.dir = filepath.Join(base, "pg")
	if err := os.Mkdir(p.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user to run PostgreSQL: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.as = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start(t)
	t.Cleanup(func() { _, _ = p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop") })
	return p
}

func (p *ownPostgres) data() string { return filepath.Join(p.dir, "data") }

func (p *ownPostgres) url() string {
	return "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
}

// run runs one of PostgreSQL's programs (as the postgres user when root), bounded.
func (p *ownPostgres) run(prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	argv := append(append(append([]string(nil), p.as...), filepath.Join(p.bin, prog)), args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
}

func (p *ownPostgres) start(t *testing.T) {
	t.Helper()
	out, err := p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "60",
		"-o", "-c listen_addresses=127.0.0.1 -p "+p.port+" -k "+p.dir+" -c max_connections=200", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// stop stops the server the way an operator restarting it would: fast shutdown (open
// transactions are rolled back, connections ended).
func (p *ownPostgres) stop(t *testing.T) {
	t.Helper()
	if out, err := p.run("pg_ctl", "-D", p.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// putSeq uploads body to path through base and returns the status and, on 2xx, the
// seq of the answer's metadata.
func putSeq(ctx context.Context, base, token, path, body string) (int, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/api/files/"+path, strings.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, 0, nil
	}
	var meta struct {
		Seq int64 `json:"seq"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		return resp.StatusCode, 0, err
	}
	return resp.StatusCode, meta.Seq, nil
}

// readyStatus returns GET /readyz's status on node n (directly, not through nginx);
// 0 when the node does not answer.
func readyStatus(n *node) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + n.addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitNodes waits until every node's /readyz answers want.
func waitNodes(t *testing.T, c *cluster, want int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var got []int
		ok := true
		for _, n := range c.nodes {
			st := readyStatus(n)
			got = append(got, st)
			ok = ok && st == want
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("nodes' /readyz %v after %v, want all %d", got, d, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acks records the uploads that were answered 2xx, path → seq.
type acks struct {
	mu  sync.Mutex
	seq map[string]int64
}

func (a *acks) add(path string, seq int64) {
	a.mu.Lock()
	a.seq[path] = seq
	a.mu.Unlock()
}

func (a *acks) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seq)
}

// logPaths returns the path of every event of the change log, by seq, read through
// base.
func logPaths(ctx context.Context, t *testing.T, base, token string) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for since, more := int64(0), true; more; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/changes?since=%d&limit=10000", base, since), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Seq    int64 `json:"seq"`
			More   bool  `json:"more"`
			Events []struct {
				Seq       int64 `json:"seq"`
				Operation map[string]struct {
					Metadata struct {
						Path string `json:"path"`
					} `json:"metadata"`
				} `json:"operation"`
			} `json:"events"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/changes: %d %v", resp.StatusCode, err)
		}
		for _, ev := range page.Events {
			for _, op := range ev.Operation {
				out[ev.Seq] = op.Metadata.Path
			}
		}
		since, more = page.Seq, page.More
	}
	return out
}

// TestPostgresRestart: three nodes behind nginx on a PostgreSQL of the test's own,
// clients uploading and subscribed. PostgreSQL is stopped (fast shutdown): every node
// answers /readyz 503 and closes its WebSockets with 1012. It is started again: every
// node answers 200 again, uploads go on, every upload that was answered 2xx is in the
// change log at the seq it was given, and every subscriber saw every seq exactly once,
// in order.
func TestPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster fault tests run three syncd processes, nginx and PostgreSQL")
	}
	servicetest.Nginx(t)
	pg := startOwnPostgres(t)
	c := startClusterOn(t, pg.url(), "postgres")
	writer, reader := c.tenant(t, "t"+servicetest.Name(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	subs := startSubscribers(ctx, t, c.proxy, reader, 3)

	acked := &acks{seq: map[string]int64{}}
	// Stopping lets each writer's upload in flight finish: one cancelled while syncd
	// commits it would still land in the log, after the head the test then reads.
	var stop atomic.Bool
	stopUploads := func() { stop.Store(true) }
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
				path := fmt.Sprintf("u%d-%04d.txt", w, i)
				st, seq, err := putSeq(ctx, "http://"+c.proxy, writer, path, path)
				if err == nil && st/100 == 2 {
					acked.add(path, seq)
					continue
				}
				time.Sleep(50 * time.Millisecond) // refused or failed: PostgreSQL is down
			}
		}()
	}
	defer func() { stopUploads(); wg.Wait() }()
	waitCount := func(what string, n int, d time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(d); acked.count() < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d uploads acknowledged after %v, want %d", what, acked.count(), d, n)
			}
		}
	}
	waitCount("before the restart", 30, 30*time.Second)

	pg.stop(t)
	before := acked.count()
	t.Logf("PostgreSQL stopped after %d acknowledged uploads; nodes unready after %v", before,
		waitNodes(t, c, http.StatusServiceUnavailable, 15*time.Second).Round(time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range subs {
		for {
			s.mu.Lock()
			n := s.closes[1012]
			s.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				s.mu.Lock()
				msg := fmt.Sprintf("%s: no close 1012 after PostgreSQL stopped (closes %v, drops %d)", s.id, s.closes, s.drops)
				s.mu.Unlock()
				t.Fatal(msg)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // uploads keep failing meanwhile

	pg.start(t)
	t.Logf("PostgreSQL started again; nodes ready after %v",
		waitNodes(t, c, http.StatusOK, 30*time.Second).Round(time.Millisecond))
	waitCount("after the restart", acked.count()+30, 30*time.Second)
	stopUploads()
	wg.Wait()

	head := changesHead(ctx, t, "http://"+c.proxy, reader)
	paths := logPaths(ctx, t, "http://"+c.proxy, reader)
	acked.mu.Lock()
	n := len(acked.seq)
	for path, seq := range acked.seq {
		if paths[seq] != path {
			t.Errorf("upload %s was answered seq %d; the change log has %q there", path, seq, paths[seq])
		}
	}
	acked.mu.Unlock()
	if int64(len(paths)) != head || head < int64(n) {
		t.Fatalf("change log: %d events, head %d, %d uploads acknowledged; beyond the head: %v",
			len(paths), head, n, beyond(paths, head))
	}
	if err := waitAll(subs, head, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	cancel()
	for _, s := range subs {
		s.check(t, head)
	}
	t.Logf("%d uploads acknowledged (%d before the stop), head %d", n, before, head)
}

// beyond returns the events of paths after seq head, by seq.
func beyond(paths map[int64]string, head int64) map[int64]string {
	out := map[int64]string{}
	for seq, p := range paths {
		if seq > head || seq <= 0 {
			out[seq] = p
		}
	}
	return out
}
