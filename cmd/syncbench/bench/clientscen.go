package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/syncspace/syncspace/cmd/realtime-sync-client/clientapp"
	"github.com/syncspace/syncspace/transport/server"
)

// client is a realtime-sync-client (clientapp.Run) running in this process.
type client struct {
	cancel context.CancelFunc
	done   chan int
}

// startClient runs realtime-sync-client with args; its log goes to logPath.
func startClient(ctx context.Context, logPath string, args ...string) (*client, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	c := &client{cancel: cancel, done: make(chan int, 1)}
	go func() {
		defer lf.Close()
		c.done <- clientapp.Run(cctx, args, io.Discard, lf)
	}()
	return c, nil
}

func (c *client) stop() {
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
	}
}

// writeToken writes a token file (0600) and returns its path.
func writeToken(dir, token string) (string, error) {
	p := filepath.Join(dir, "token")
	return p, os.WriteFile(p, []byte(token+"\n"), 0o600)
}

// propagation measures n changes of a 1 KiB file written in dirA until dirB holds the
// new content; settle is a pause between changes.
func propagation(ctx context.Context, dirA, dirB string, n int, perChange time.Duration) ([]time.Duration, error) {
	name := "prop.txt"
	content := make([]byte, 1024)
	var lats []time.Duration
	for i := 0; i < n; i++ {
		fill(content, uint64(i)+99)
		head := fmt.Appendf(nil, "change %06d\n", i)
		copy(content, head)
		if err := os.WriteFile(filepath.Join(dirA, name), content, 0o644); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := waitContent(ctx, filepath.Join(dirB, name), head, perChange); err != nil {
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		lats = append(lats, time.Since(t0))
	}
	return lats, nil
}

// waitContent polls path every millisecond until it starts with head.
func waitContent(ctx context.Context, path string, head []byte, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, len(head))
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if f, err := os.Open(path); err == nil {
			n, _ := io.ReadFull(f, buf)
			f.Close()
			if n == len(head) && bytes.Equal(buf, head) {
				return nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("%s not updated within %s", filepath.Base(path), timeout)
}

// runPropagation: change propagation A→B of a 1 KiB file, two realtime clients on one
// syncd, against two Syncthing instances with fsWatcherDelayS=1.
func runPropagation(ctx context.Context, r *runner) []Result {
	const scen = "propagation"
	n := r.size(200, 15)
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, "ms p50", "", err)}
	}
	ssLats, err := syncspacePropagation(ctx, dir, n)
	if err != nil {
		return []Result{failed(scen, "ms p50", "", err)}
	}
	p50, p99 := ms(percentile(ssLats, 50)), ms(percentile(ssLats, 99))
	r.log.Info("propagation syncspace", "p50_ms", p50, "p99_ms", p99)
	notes := fmt.Sprintf("%d sequential changes of one 1 KiB file, write in A until B's file has the new content (polled every 1 ms); syncspace: two realtime-sync-client --realtime on one syncd", n)

	stLats, err := syncthingPropagation(ctx, r, dir, n)
	var sk errSkip
	switch {
	case errors.As(err, &sk):
		return []Result{
			row(scen, "ms p50", p50, "", 0, notes, valueAtMost(100, "ms")),
			row(scen, "ms p99", p99, "", 0, notes, valueAtMost(300, "ms")),
			withSyncspace(skipped(scen, "ms p50", "Syncthing", sk.Error()), p50),
		}
	case err != nil:
		return []Result{
			row(scen, "ms p50", p50, "", 0, notes, valueAtMost(100, "ms")),
			row(scen, "ms p99", p99, "", 0, notes, valueAtMost(300, "ms")),
			failed(scen, "ms p50", "Syncthing", err),
		}
	}
	sp50, sp99 := ms(percentile(stLats, 50)), ms(percentile(stLats, 99))
	r.log.Info("propagation syncthing", "p50_ms", sp50, "p99_ms", sp99)
	return []Result{
		row(scen, "ms p50", p50, "Syncthing (fsWatcherDelayS=1)", sp50, notes, valueAtMost(100, "ms"), ratioAtMost(0.2)),
		row(scen, "ms p99", p99, "Syncthing (fsWatcherDelayS=1)", sp99, notes, valueAtMost(300, "ms"), ratioAtMost(0.2)),
	}
}

func syncspacePropagation(ctx context.Context, dir string, n int) ([]time.Duration, error) {
	env, tok, err := startBenchSyncd(ctx, filepath.Join(dir, "syncd"))
	if err != nil {
		return nil, err
	}
	defer env.close()
	tf, err := writeToken(env.dir, tok)
	if err != nil {
		return nil, err
	}
	a, b := filepath.Join(dir, "ss-a"), filepath.Join(dir, "ss-b")
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var clients []*client
	defer func() {
		for _, c := range clients {
			c.stop()
		}
	}()
	for _, side := range []struct{ name, dir string }{{"a", a}, {"b", b}} {
		c, err := startClient(ctx, filepath.Join(dir, "client-"+side.name+".log"),
			"--server", env.url, "--local-path", side.dir, "--token-file", tf, "--realtime",
			"--client-id", "bench-"+side.name, "--log-level", "warn")
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
	}
	// Both clients up: a first change must make it across.
	if _, err := propagation(ctx, a, b, 1, 30*time.Second); err != nil {
		return nil, fmt.Errorf("clients did not start syncing: %w (see %s)", err, filepath.Join(dir, "client-a.log"))
	}
	return propagation(ctx, a, b, n, 10*time.Second)
}

// syncthingPropagation runs two Syncthing instances sharing one folder on loopback.
func syncthingPropagation(ctx context.Context, r *runner, dir string, n int) ([]time.Duration, error) {
	bin, err := r.inst.apt(ctx, "syncthing", "syncthing")
	if err != nil {
		return nil, errSkip{err}
	}
	st := filepath.Join(dir, "syncthing")
	insts := []*stInst{{home: filepath.Join(st, "home-a"), folder: filepath.Join(st, "a")}, {home: filepath.Join(st, "home-b"), folder: filepath.Join(st, "b")}}
	version := "37"
	for _, in := range insts {
		v, err := in.generate(ctx, bin)
		if err != nil {
			return nil, err
		}
		if v != "" {
			version = v
		}
	}
	ports, err := freePorts(2 * len(insts))
	if err != nil {
		return nil, err
	}
	for i, in := range insts {
		in.port, in.gui = ports[2*i], ports[2*i+1]
	}
	for i, in := range insts {
		if err := os.WriteFile(filepath.Join(in.home, "config.xml"), []byte(in.config(version, insts[1-i])), 0o600); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, in := range insts {
			if in.p != nil {
				in.p.stop()
			}
		}
	}()
	if err := startSyncthings(ctx, st, bin, insts); err != nil {
		return nil, err
	}
	if _, err := propagation(ctx, insts[0].folder, insts[1].folder, 1, 90*time.Second); err != nil {
		return nil, fmt.Errorf("syncthing instances did not start syncing: %w (log: %s)", err, insts[1].p.tail())
	}
	return propagation(ctx, insts[0].folder, insts[1].folder, n, 30*time.Second)
}

// stInst is one Syncthing instance of the propagation scenario.
type stInst struct {
	home, folder, id, apikey string
	port, gui                int
	p                        *proc
}

// generate makes the instance's home (keys, device id, API key) and returns the
// config version Syncthing wrote ("" if none was found).
func (in *stInst) generate(ctx context.Context, bin string) (version string, err error) {
	for _, d := range []string{in.home, filepath.Join(in.folder, ".stfolder")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	out, err := exec.CommandContext(ctx, bin, "generate", "--home="+in.home, "--no-default-folder", "--skip-port-probing").CombinedOutput()
	if err != nil {
		return "", errSkip{fmt.Errorf("syncthing generate: %s", lastLine(out))}
	}
	if m := regexp.MustCompile(`Device ID:\s*([A-Z0-9-]{50,})`).FindSubmatch(out); m != nil {
		in.id = string(m[1])
	} else {
		out, err := exec.CommandContext(ctx, bin, "serve", "--home="+in.home, "--device-id").Output()
		if err != nil {
			return "", errSkip{fmt.Errorf("syncthing device id: %v", err)}
		}
		in.id = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile(filepath.Join(in.home, "config.xml")); err == nil {
		if m := regexp.MustCompile(`<configuration version="(\d+)"`).FindSubmatch(b); m != nil {
			version = string(m[1])
		}
	}
	key := make([]byte, 16)
	rand.Read(key)
	in.apikey = hex.EncodeToString(key)
	return version, nil
}

// config is the instance's config.xml: one shared folder with other, loopback only,
// no discovery, relays or upgrades, a 1 s watcher delay.
func (in *stInst) config(version string, other *stInst) string {
	return fmt.Sprintf(`<configuration version="%s">
    <folder id="bench" label="bench" path="%s" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="1" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <device id="%s"></device>
        <device id="%s"></device>
    </folder>
    <device id="%s" name="self" compression="metadata" introducer="false">
        <address>dynamic</address>
    </device>
    <device id="%s" name="peer" compression="metadata" introducer="false">
        <address>tcp://127.0.0.1:%d</address>
    </device>
    <gui enabled="true" tls="false">
        <address>127.0.0.1:%d</address>
        <apikey>%s</apikey>
    </gui>
    <options>
        <listenAddress>tcp://127.0.0.1:%d</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <reconnectionIntervalS>2</reconnectionIntervalS>
        <natEnabled>false</natEnabled>
        <urAccepted>-1</urAccepted>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <crashReportingEnabled>false</crashReportingEnabled>
        <startBrowser>false</startBrowser>
    </options>
</configuration>
`, version, in.folder, in.id, other.id, in.id, other.id, other.port, in.gui, in.apikey, in.port)
}

// startSyncthings starts every instance and waits until each answers its health check.
func startSyncthings(ctx context.Context, st, bin string, insts []*stInst) error {
	env := []string{"STNOUPGRADE=1", "STNODEFAULTFOLDER=1", "STGUIADDRESS=", "HOME=" + st}
	for i, in := range insts {
		p, err := startProc(fmt.Sprintf("syncthing-%c", 'a'+i), st, bin, []string{"serve", "--home=" + in.home, "--no-browser", "--no-restart"}, env)
		if err != nil {
			return errSkip{err}
		}
		in.p = p
	}
	for _, in := range insts {
		if err := waitHTTP(ctx, in.p, fmt.Sprintf("http://127.0.0.1:%d/rest/noauth/health", in.gui), 30*time.Second, false); err != nil {
			return err
		}
	}
	return nil
}

// runInitialSync: n × 4 KiB files on the server, one empty folder: wall time and CPU
// time of `realtime-sync-client --once` against `rsync -a` from an rsync daemon on
// loopback.
func runInitialSync(ctx context.Context, r *runner) []Result {
	const scen, metric = "initial-sync", "s"
	n := r.size(10000, 300)
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	env, tok, err := startBenchSyncd(ctx, filepath.Join(dir, "syncd"))
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer env.close()
	src := filepath.Join(dir, "rsync-src")
	if err := seedInitial(ctx, env, tok, src, n); err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	// ABBA (twice unless --quick), each run into a new empty folder, so that both
	// sides see the same page cache and machine state on average; see
	// initialSyncRounds for what each run starts from.
	order := []string{"syncspace", "rsync", "rsync", "syncspace"}
	if !r.opts.Quick {
		order = append(order, order...)
	}
	var ss, rs []timing
	for i, side := range order {
		dst := filepath.Join(dir, fmt.Sprintf("%s-dst-%d", side, i))
		t, err := initialRound(ctx, r, env, tok, dir, src, dst, side, n)
		var sk errSkip
		switch {
		case errors.As(err, &sk):
			return []Result{withSyncspace(skipped(scen, metric, "rsync daemon", sk.Error()), ss[0].wall.Seconds())}
		case err != nil && side == "rsync":
			return []Result{withSyncspace(failed(scen, metric, "rsync daemon", err), ss[0].wall.Seconds())}
		case err != nil:
			return []Result{failed(scen, metric, "", err)}
		}
		r.log.Info("initial sync "+side, "seconds", t.wall.Seconds(), "cpu", t.cpu.Seconds(), "sync_after", t.flush.Seconds())
		if side == "syncspace" {
			ss = append(ss, t)
		} else {
			rs = append(rs, t)
		}
	}
	walls := func(ts []timing) string {
		var b strings.Builder
		for i, t := range ts {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%.2f", t.wall.Seconds())
		}
		return b.String()
	}
	notes := fmt.Sprintf("%d × 4 KiB in 100 directories into an empty folder, %s (syncspace %s s, rsync %s s; mean of each side); "+
		"before each run, untimed: sync(2), so that no run pays for what an earlier one left dirty; no folder is deleted until the end (on ext4 without a journal a deletion slows the inode allocation of whoever creates files in the next 60 s); "+
		"syncspace: realtime-sync-client --once (one GET /api/archive tar stream, 16 writers; temp file + rename, SHA-256 checked, client state saved with an unflushed mark instead of a syncfs); "+
		"rsync -a: one pipelined stream from an rsync daemon on loopback; neither fsyncs each file",
		n, strings.Repeat("ABBA ", len(order)/4)[:len(order)/4*5-1], walls(ss), walls(rs))
	mean := func(ts []timing, f func(timing) time.Duration) float64 {
		var sum time.Duration
		for _, t := range ts {
			sum += f(t)
		}
		return sum.Seconds() / float64(len(ts))
	}
	wall := func(t timing) time.Duration { return t.wall }
	durable := func(t timing) time.Duration { return t.wall + t.flush }
	cpu := func(t timing) time.Duration { return t.cpu }
	return []Result{
		row(scen, metric, mean(ss, wall), "rsync daemon", mean(rs, wall), notes, ratioAtMost(1.0)),
		row(scen, "s, both + sync(2)", mean(ss, durable), "rsync daemon + sync(2)", mean(rs, durable),
			fmt.Sprintf("the same runs, each side adding a sync(2) timed right after each of its runs (syncspace %.3f s, rsync %.3f s on average): the flush of what it wrote",
				mean(ss, func(t timing) time.Duration { return t.flush }), mean(rs, func(t timing) time.Duration { return t.flush }))),
		row(scen, "CPU s", mean(ss, cpu), "rsync daemon", mean(rs, cpu),
			"user+system CPU of the same runs: syncspace's process holds the client and the in-process syncd; rsync's figure adds the client, the daemon and its connection child"),
	}
}

// initialRound is one timed run of side into dst, a new empty folder. Before it,
// untimed, sync(2) writes out whatever is dirty (the seeding, the run before), which
// the run's own flushes would otherwise pay for; after it, a sync(2) timed apart
// (timing.flush) gives what the run left for the disk.
func initialRound(ctx context.Context, r *runner, env *syncEnv, tok, dir, src, dst, side string, n int) (timing, error) {
	syncAll()
	var t timing
	var err error
	if side == "syncspace" {
		t, err = syncspaceInitial(ctx, env, tok, dst, n)
	} else {
		t, err = rsyncRun(ctx, r, dir, src, dst, n)
	}
	if err != nil {
		return t, err
	}
	t0 := time.Now()
	syncAll()
	t.flush = time.Since(t0)
	return t, nil
}

// timing is the wall and CPU (user+system) time of one run; flush is the sync(2)
// timed after it, where measured.
type timing struct{ wall, cpu, flush time.Duration }

// seedInitial uploads the n files of the initial-sync scenario to the server and
// writes the same tree under src for rsync.
func seedInitial(ctx context.Context, env *syncEnv, tok, src string, n int) error {
	cl := newHTTPClient(8)
	if _, err := uploadRange(ctx, cl, 0, n, 8, func(i int) (string, string) { return env.url + "/api/files/" + initialRel(i), tok }); err != nil {
		return fmt.Errorf("seeding the server: %w", err)
	}
	body := make([]byte, 4<<10)
	for i := 0; i < n; i++ {
		fill(body, uint64(i)+1)
		p := filepath.Join(src, initialRel(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func initialRel(i int) string { return fmt.Sprintf("init/d%02d/f%05d.bin", i%100, i) }

// syncspaceInitial runs realtime-sync-client --once into the empty folder dst.
func syncspaceInitial(ctx context.Context, env *syncEnv, tok, dst string, n int) (timing, error) {
	tf, err := writeToken(env.dir, tok)
	if err != nil {
		return timing{}, err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return timing{}, err
	}
	c0, t0 := cpuSelf(), time.Now()
	var logBuf bytes.Buffer
	code := clientapp.Run(ctx, []string{"--server", env.url, "--local-path", dst, "--token-file", tf, "--once", "--log-level", "warn"}, io.Discard, &server.LockedWriter{W: &logBuf})
	t := timing{wall: time.Since(t0), cpu: cpuSelf() - c0}
	if code != 0 {
		return t, fmt.Errorf("realtime-sync-client --once exited %d: %s", code, lastLine(logBuf.Bytes()))
	}
	if got := countFiles(filepath.Join(dst, "init")); got != n {
		return t, fmt.Errorf("client fetched %d files, want %d", got, n)
	}
	return t, nil
}

// rsyncRun serves src with an rsync daemon on loopback and times `rsync -a` of it
// into dst, a new empty directory; CPU counts the client, the daemon and its reaped
// connection child.
func rsyncRun(ctx context.Context, r *runner, dir, src, dst string, n int) (timing, error) {
	bin, err := r.inst.apt(ctx, "rsync", "rsync")
	if err != nil {
		return timing{}, errSkip{err}
	}
	p, addr, err := startRsyncd(dir, bin, src)
	if err != nil {
		return timing{}, err
	}
	defer p.stop()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return timing{}, err
	}
	t0 := time.Now()
	c := exec.CommandContext(ctx, bin, "-a", fmt.Sprintf("rsync://%s/bench/", addr), dst+"/")
	out, err := c.CombinedOutput()
	t := timing{wall: time.Since(t0)}
	if err != nil {
		return t, fmt.Errorf("rsync: %v: %s", err, lastLine(out))
	}
	if got := countFiles(filepath.Join(dst, "init")); got != n {
		return t, fmt.Errorf("rsync fetched %d files, want %d", got, n)
	}
	time.Sleep(100 * time.Millisecond) // the daemon reaps its connection child
	dcpu, err := cpuOf(p.cmd.Process.Pid)
	if err != nil {
		return t, err
	}
	t.cpu = c.ProcessState.UserTime() + c.ProcessState.SystemTime() + dcpu
	return t, nil
}

// startRsyncd starts an rsync daemon serving src read-only as module "bench" on a
// free loopback port and waits until it answers.
func startRsyncd(dir, bin, src string) (*proc, string, error) {
	return startRsyncdModule(dir, bin, src, true)
}

// startRsyncdModule starts an rsync daemon on loopback serving path as module
// "bench", writable unless readOnly, and returns it with its address.
func startRsyncdModule(dir, bin, path string, readOnly bool) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	rdir := filepath.Join(dir, "rsyncd")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, "", err
	}
	ids := ""
	if os.Geteuid() == 0 {
		ids = "uid = root\ngid = root\n"
	}
	ro := "yes"
	if !readOnly {
		ro = "no"
	}
	conf := fmt.Sprintf("port = %d\naddress = 127.0.0.1\nuse chroot = no\npid file = %s/rsyncd.pid\nlog file = %s/rsyncd.log\n%s[bench]\n  path = %s\n  read only = %s\n",
		port, rdir, rdir, ids, path, ro)
	cfg := filepath.Join(rdir, "rsyncd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc("rsyncd", rdir, bin, []string{"--daemon", "--no-detach", "--config=" + cfg}, nil)
	if err != nil {
		return nil, "", errSkip{err}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return p, addr, nil
		}
		if p.exited() || i > 200 {
			p.stop()
			return nil, "", fmt.Errorf("rsync daemon did not start: %s", p.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countFiles counts regular files under root.
func countFiles(root string) int {
	n := 0
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
