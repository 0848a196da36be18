package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
)

// runRestart: time from the start of a syncd child process to GET /readyz 200 with a
// tenant of 10⁴ and 10⁵ small files (generated directly on the server's disk), first
// with the files not indexed yet (placed before the first start), then after a plain
// restart (all indexed). The start-up check of the disk runs in the background: its
// time is reported beside, as information.
func runRestart(ctx context.Context, r *runner) []Result {
	self, err := os.Executable()
	if err != nil {
		return []Result{failed("restart", "s to ready", "", err)}
	}
	var out []Result
	for _, n := range restartSizes(r) {
		out = append(out, restartAt(ctx, r, self, n)...)
	}
	return out
}

func restartSizes(r *runner) []int {
	if r.opts.Quick {
		return []int{1000}
	}
	return []int{10_000, 100_000}
}

// restartAt measures both starts with n files.
func restartAt(ctx context.Context, r *runner, self string, n int) []Result {
	const scen = "restart"
	size := countLabel(n)
	dir, err := r.dir(fmt.Sprintf("restart-%d", n))
	if err != nil {
		return []Result{failed(scen, "s to ready", "", err)}
	}
	c, err := prepareSyncdChild(ctx, dir)
	if err != nil {
		return []Result{failed(scen, "s to ready", "", err)}
	}
	if err := genFiles(c.files, n, 64); err != nil {
		return []Result{failed(scen, "s to ready", "", err)}
	}
	first, err := c.timeStart(ctx, self, "first", r.childEnv())
	if err != nil {
		return []Result{failed(scen, "s to ready, "+size+" files placed directly", "", err)}
	}
	plain, err := c.timeStart(ctx, self, "restart", r.childEnv())
	if err != nil {
		return []Result{failed(scen, "s to ready, "+size+" files indexed", "", err)}
	}
	notes := fmt.Sprintf("syncd child process; %s files of 64 B in directories of 1,000; /readyz polled every 10 ms", size)
	return []Result{
		row(scen, "s to ready, "+size+" files placed directly", first.ready.Seconds(), "", 0, notes, valueAtMost(2, "s")),
		row(scen, "s to ready, "+size+" files indexed", plain.ready.Seconds(), "", 0, notes+"; plain restart", valueAtMost(2, "s")),
		row(scen, "s start-up check (background), "+size+" placed directly", first.checked.Seconds(), "", 0, "every file hashed and committed; served meanwhile"),
		row(scen, "s start-up check (background), "+size+" indexed", plain.checked.Seconds(), "", 0, "nothing to commit; served meanwhile"),
	}
}

// countLabel writes n as 10ᵏ when it is a power of ten, else as a number.
func countLabel(n int) string {
	sup := []string{"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"}
	for k, p := 0, 1; k < 10; k, p = k+1, p*10 {
		if p == n && k > 1 {
			return "10" + sup[k]
		}
	}
	return fmt.Sprint(n)
}

// syncdChild is a prepared data dir with tenant "bench", for syncd child processes.
type syncdChild struct {
	dir, cfg string
	files    string // the tenant's files/ directory
	token    string // a write token of "bench"
}

// prepareSyncdChild creates the data dir with tenant "bench", a write token and the
// config (syncctl's local mode, as an operator would).
func prepareSyncdChild(ctx context.Context, dir string) (*syncdChild, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	if code := ctl.Run(ctx, []string{"--data", data, "tenant", "create", "bench"}, &stdout, &stderr); code != 0 {
		return nil, fmt.Errorf("syncctl tenant create: %s", strings.TrimSpace(stderr.String()))
	}
	stdout.Reset()
	if code := ctl.Run(ctx, []string{"--data", data, "token", "issue", "--tenant", "bench", "--subject", "bench", "--role", "write", "--ttl", "24h"}, &stdout, &stderr); code != 0 {
		return nil, fmt.Errorf("syncctl token issue: %s", strings.TrimSpace(stderr.String()))
	}
	c := &syncdChild{dir: dir, cfg: filepath.Join(dir, "syncd.json"), files: filepath.Join(data, "tenants", "bench", "files"),
		token: strings.TrimSpace(stdout.String())}
	cfg := benchConfig(data, "127.0.0.1:0")
	cfg["retention"] = map[string]any{"changes": 1 << 40} // the growth scenario pages the whole log
	// The default entry limit (10⁶ a tenant) would refuse the growth scenario's 10,000
	// PUTs into a tenant of 10⁶ files and 1,000 directories (413).
	cfg["limits"].(map[string]any)["max_entries"] = 1 << 40
	if err := writeConfig(c.cfg, cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// genFiles writes n files of size bytes under dir, 1,000 to a directory.
func genFiles(dir string, n, size int) error {
	buf := make([]byte, size)
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("d%04d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		fill(buf, uint64(i))
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d.txt", i%1000)), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startTimes are the figures of one start of a syncd child.
type startTimes struct {
	ready, checked time.Duration // from the process start to /readyz 200, to the start-up check's end
	rss            int64         // bytes, when the check was done
}

// timeStart starts syncd on the data dir, times /readyz and the start-up check, and
// stops it.
func (c *syncdChild) timeStart(ctx context.Context, self, name string, env []string) (startTimes, error) {
	var st startTimes
	p, addr, t0, err := c.start(ctx, self, name, env)
	if err != nil {
		return st, err
	}
	defer p.stop()
	if st.ready, err = waitReady(ctx, p, "http://"+addr+"/readyz", t0); err != nil {
		return st, err
	}
	if st.checked, err = waitLog(ctx, p, "start-up disk check done", t0, 30*time.Minute); err != nil {
		return st, err
	}
	st.rss, _ = rssOf(p.cmd.Process.Pid)
	return st, nil
}

// start starts syncd on the data dir and returns it with its address and start time.
func (c *syncdChild) start(ctx context.Context, self, name string, env []string) (*proc, string, time.Time, error) {
	t0 := time.Now()
	p, err := startProc("syncd-"+name, c.dir, self, []string{"__syncd", "-config", c.cfg}, env)
	if err != nil {
		return nil, "", t0, err
	}
	addr, err := waitListen(ctx, p, 10*time.Minute)
	if err != nil {
		p.stop()
		return nil, "", t0, err
	}
	return p, addr, t0, nil
}

// waitReady polls url every 10 ms until it answers 200 and returns the time since t0.
func waitReady(ctx context.Context, p *proc, url string, t0 time.Time) (time.Duration, error) {
	cl := &http.Client{Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		if p.exited() {
			return 0, fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := cl.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, ctx.Err()
}

// waitLog polls p's log until it holds line and returns the time since t0.
func waitLog(ctx context.Context, p *proc, line string, t0 time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if b, err := os.ReadFile(p.log); err == nil && bytes.Contains(b, []byte(line)) {
			return time.Since(t0), nil
		}
		if p.exited() {
			return 0, fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not log %q: %s", p.name, line, p.tail())
}
