package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/cmd/realtime-sync-client/clientapp"
	"github.com/syncspace/syncspace/transport/server"
)

// The delta scenario (SPEC §7.4, issue 19 item 1): one large file edited in place (one
// byte changed, then 100 bytes inserted in the middle), carried up by one client and
// down to another, against an rsync daemon doing the same edit both ways. Both run
// behind the same counting loopback TCP proxy, which gives the bytes on the wire each
// way (requests, answers, chunk lists and framing included). A second rsync daemon
// runs with --fsync (every file it writes is fsynced, as syncd does before it
// answers): its rows are informational, the like-for-like peer of a durable server.

const deltaFile = "delta/data.bin"

// deltaEdit is one edit of the scenario; apply rewrites the file at p (the same edit
// on every copy).
type deltaEdit struct {
	name  string
	apply func(p string, size int64) error
}

var deltaEdits = []deltaEdit{
	{"1-byte change", func(p string, size int64) error {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		var b [1]byte
		if _, err := f.ReadAt(b[:], size/2); err != nil {
			return err
		}
		b[0] ^= 0x5a
		_, err = f.WriteAt(b[:], size/2)
		return err
	}},
	{"100-byte insertion", func(p string, size int64) error {
		old, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mid := len(old) / 2
		next := make([]byte, 0, len(old)+100)
		next = append(append(append(next, old[:mid]...), bytes.Repeat([]byte{'+'}, 100)...), old[mid:]...)
		return os.WriteFile(p, next, 0o644)
	}},
}

// deltaRun is one system's figures for one edit: the upload and the download, each
// with the bytes through the proxy (both directions) while it ran.
type deltaRun struct {
	up, down       timing
	upWire, dnWire int64 // both directions of the TCP connections during each run
	// upFlush, dnFlush: rsync only, a sync(2) right after each run (what making its
	// result durable would add; syncspace's figures include its fsyncs).
	upFlush, dnFlush time.Duration
}

func runDelta(ctx context.Context, r *runner) []Result {
	const scen = "delta"
	size := int64(r.size(256<<20, 4<<20))
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, "% of file on the wire", "", err)}
	}
	ss, err := newSSDelta(ctx, dir, size)
	if err != nil {
		return []Result{failed(scen, "% of file on the wire", "", err)}
	}
	defer ss.close()
	rs, rsErr := newRsyncDelta(ctx, r, dir, size, false)
	if rs != nil {
		defer rs.close()
	}
	rf, rfErr := newRsyncDelta(ctx, r, dir, size, true)
	if rf != nil {
		defer rf.close()
	}
	var out []Result
	for i, ed := range deltaEdits {
		// Alternating: syncspace, rsync, rsync --fsync on even edits, the reverse on
		// odd ones.
		var ssRun, rsRun, rfRun deltaRun
		var ssErr, rErr, fErr error = nil, rsErr, rfErr
		order := []int{0, 1, 2}
		if i%2 == 1 {
			order = []int{2, 1, 0}
		}
		for _, k := range order {
			switch {
			case k == 0:
				ssRun, ssErr = ss.edit(ctx, ed, size)
			case k == 1 && rs != nil && rErr == nil:
				rsRun, rErr = rs.edit(ctx, ed, size)
			case k == 2 && rf != nil && fErr == nil:
				rfRun, fErr = rf.edit(ctx, ed, size)
			}
		}
		r.log.Info("delta", "edit", ed.name, "syncspace", ssRun, "rsync", rsRun, "rsync --fsync", rfRun)
		out = append(out, deltaRows(scen, ed.name, size, ssRun, ssErr, []deltaPeer{{rsRun, rErr}, {rfRun, fErr}})...)
		size = ss.size
	}
	return out
}

// deltaPeer is one rsync daemon's run of an edit (plain, then with --fsync).
type deltaPeer struct {
	run deltaRun
	err error
}

// deltaRows are the rows of one edit: bytes on the wire and wall time each way
// against the plain rsync daemon (judged), and each wall time against rsync --fsync
// (peers[1], informational) right after its judged row.
func deltaRows(scen, edit string, size int64, ss deltaRun, ssErr error, peers []deltaPeer) []Result {
	pct := func(n int64) float64 { return 100 * float64(n) / float64(size) }
	notes := fmt.Sprintf("%s of a %d MiB file; bytes both ways through a counting TCP proxy, requests, chunk lists and framing included; syncspace: realtime-sync-client --once (scan, chunking, whole-file SHA-256 checked, server fsync), rsync -aI over the daemon", edit, size>>20)
	rs, rf := peers[0].run, peers[1].run
	type fig struct {
		metric string
		ss     float64
		peer   int // index in peers
		pv     float64
		flush  time.Duration // rsync without --fsync: a sync(2) right after
		goals  []goal        // none: informational
	}
	figs := []fig{
		{"upload: % of file on the wire", pct(ss.upWire), 0, pct(rs.upWire), 0, []goal{valueAtMost(1, "%")}},
		{"upload: s", ss.up.wall.Seconds(), 0, rs.up.wall.Seconds(), rs.upFlush, []goal{ratioAtMost(1.5)}},
		{"upload: s, against rsync --fsync", ss.up.wall.Seconds(), 1, rf.up.wall.Seconds(), 0, nil},
		{"download: % of file on the wire", pct(ss.dnWire), 0, pct(rs.dnWire), 0, []goal{valueAtMost(1, "%")}},
		{"download: s", ss.down.wall.Seconds(), 0, rs.down.wall.Seconds(), rs.dnFlush, []goal{ratioAtMost(1.5)}},
		{"download: s, against rsync --fsync", ss.down.wall.Seconds(), 1, rf.down.wall.Seconds(), 0, nil},
	}
	out := make([]Result, 0, len(figs))
	var sk errSkip
	for _, f := range figs {
		peer, notes := "rsync daemon", notes+" (no fsync)"
		if f.peer == 1 {
			peer, notes = "rsync daemon --fsync", notes+" --fsync (each file it writes fsynced)"
		}
		if f.flush > 0 {
			notes += fmt.Sprintf("; a sync(2) right after the rsync run took %.2f s more", f.flush.Seconds())
		}
		metric := edit + ", " + f.metric
		perr := peers[f.peer].err
		switch {
		case ssErr != nil:
			out = append(out, failed(scen, metric, peer, ssErr))
		case errors.As(perr, &sk):
			out = append(out, withSyncspace(skipped(scen, metric, peer, sk.Error()), f.ss))
		case perr != nil:
			out = append(out, withSyncspace(failed(scen, metric, peer, perr), f.ss))
		default:
			out = append(out, row(scen, metric, f.ss, peer, f.pv, notes, f.goals...))
		}
	}
	return out
}

// ssDelta is syncspace's side: an in-process syncd behind a counting proxy, and two
// client folders A (edits, uploads) and B (downloads) holding the file.
type ssDelta struct {
	env      *syncEnv
	px       *countProxy
	tf       string
	a, b     string
	size     int64
	logLines *bytes.Buffer
}

func newSSDelta(ctx context.Context, dir string, size int64) (*ssDelta, error) {
	env, tok, err := startBenchSyncd(ctx, filepath.Join(dir, "syncd"))
	if err != nil {
		return nil, err
	}
	s := &ssDelta{env: env, a: filepath.Join(dir, "ss-a"), b: filepath.Join(dir, "ss-b"), size: size, logLines: &bytes.Buffer{}}
	fail := func(err error) (*ssDelta, error) { s.close(); return nil, err }
	if s.px, err = newCountProxy(env.url[len("http://"):]); err != nil {
		return fail(err)
	}
	if s.tf, err = writeToken(dir, tok); err != nil {
		return fail(err)
	}
	if err := writeBig(filepath.Join(s.a, deltaFile), size, 1); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(s.b, 0o755); err != nil {
		return fail(err)
	}
	for _, d := range []string{s.a, s.b} {
		if _, err := s.once(ctx, d); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

func (s *ssDelta) close() {
	if s.px != nil {
		s.px.close()
	}
	s.env.close()
}

// once runs realtime-sync-client --once on folder d through the proxy.
func (s *ssDelta) once(ctx context.Context, d string) (timing, error) {
	s.logLines.Reset()
	c0, t0 := cpuSelf(), time.Now()
	code := clientapp.Run(ctx, []string{"--server", "http://" + s.px.addr(), "--local-path", d, "--token-file", s.tf, "--once", "--log-level", "warn"},
		io.Discard, &server.LockedWriter{W: s.logLines})
	t := timing{wall: time.Since(t0), cpu: cpuSelf() - c0}
	if code != 0 {
		return t, fmt.Errorf("realtime-sync-client --once exited %d: %s", code, lastLine(s.logLines.Bytes()))
	}
	return t, nil
}

// edit applies ed to A's file, syncs A up and B down, and checks B holds A's bytes.
func (s *ssDelta) edit(ctx context.Context, ed deltaEdit, size int64) (deltaRun, error) {
	var run deltaRun
	pa, pb := filepath.Join(s.a, deltaFile), filepath.Join(s.b, deltaFile)
	if err := applyEdit(ed, pa, size); err != nil {
		return run, err
	}
	s.px.reset()
	var err error
	if run.up, err = s.once(ctx, s.a); err != nil {
		return run, err
	}
	run.upWire = s.px.reset()
	if run.down, err = s.once(ctx, s.b); err != nil {
		return run, err
	}
	run.dnWire = s.px.reset()
	if err := sameFiles(pa, pb); err != nil {
		return run, err
	}
	fi, err := os.Stat(pa)
	if err != nil {
		return run, err
	}
	s.size = fi.Size()
	return run, nil
}

// rsyncDelta is rsync's side: a writable rsync daemon module (the server's copy)
// behind a counting proxy, an uploader's copy and a downloader's copy.
type rsyncDelta struct {
	bin     string
	fsync   bool // rsync --fsync: the receiver fsyncs each file it writes
	p       *proc
	px      *countProxy
	mod     string // the module's directory
	up, dn  string // the uploader's and downloader's files
	modFile string
}

// newRsyncDelta starts the daemon and writes the three copies, under dir/rsync-*
// (dir/rsync-fsync-* with fsync).
func newRsyncDelta(ctx context.Context, r *runner, dir string, size int64, fsync bool) (*rsyncDelta, error) {
	bin, err := r.inst.apt(ctx, "rsync", "rsync")
	if err != nil {
		return nil, errSkip{err}
	}
	pre := filepath.Join(dir, "rsync-")
	if fsync {
		pre += "fsync-"
	}
	rs := &rsyncDelta{bin: bin, fsync: fsync, mod: pre + "module"}
	rs.modFile = filepath.Join(rs.mod, filepath.Base(deltaFile))
	rs.up = filepath.Join(pre+"up", filepath.Base(deltaFile))
	rs.dn = filepath.Join(pre+"down", filepath.Base(deltaFile))
	for _, p := range []string{rs.modFile, rs.up, rs.dn} {
		if err := writeBig(p, size, 1); err != nil {
			return nil, err
		}
	}
	p, addr, err := startRsyncdModule(pre+"daemon", bin, rs.mod, false)
	if err != nil {
		return nil, err
	}
	rs.p = p
	if rs.px, err = newCountProxy(addr); err != nil {
		rs.close()
		return nil, err
	}
	return rs, nil
}

func (rs *rsyncDelta) close() {
	if rs.px != nil {
		rs.px.close()
	}
	rs.p.stop()
}

// edit applies ed to the uploader's copy, pushes it to the daemon, pulls it into the
// downloader's copy, and checks the three copies agree.
func (rs *rsyncDelta) edit(ctx context.Context, ed deltaEdit, size int64) (deltaRun, error) {
	var run deltaRun
	if err := applyEdit(ed, rs.up, size); err != nil {
		return run, err
	}
	url := fmt.Sprintf("rsync://%s/bench/%s", rs.px.addr(), filepath.Base(deltaFile))
	rs.px.reset()
	var err error
	if run.up, err = rs.run(ctx, rs.up, url); err != nil {
		return run, err
	}
	run.upWire = rs.px.reset()
	if !rs.fsync {
		run.upFlush = timeSync()
	}
	if run.down, err = rs.run(ctx, url, rs.dn); err != nil {
		return run, err
	}
	run.dnWire = rs.px.reset()
	if !rs.fsync {
		run.dnFlush = timeSync()
	}
	if err := sameFiles(rs.up, rs.modFile); err != nil {
		return run, err
	}
	return run, sameFiles(rs.up, rs.dn)
}

// run times one `rsync -aI` (-I: no quick check by size and mtime, as the edits keep
// the size and may keep the second), with --fsync if rs.fsync (the client passes it
// on to the daemon when the daemon receives).
func (rs *rsyncDelta) run(ctx context.Context, src, dst string) (timing, error) {
	args := []string{"-aI", src, dst}
	if rs.fsync {
		args = append([]string{"--fsync"}, args...)
	}
	t0 := time.Now()
	c := exec.CommandContext(ctx, rs.bin, args...)
	out, err := c.CombinedOutput()
	t := timing{wall: time.Since(t0)}
	if err != nil {
		return t, fmt.Errorf("rsync: %v: %s", err, lastLine(out))
	}
	t.cpu = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	return t, nil
}

// applyEdit applies ed to p and flushes every dirty page of the machine, so that
// neither side's clock includes writing back the edit (syncspace's client syncs the
// file system when it saves its state; rsync does not sync at all).
func applyEdit(ed deltaEdit, p string, size int64) error {
	if err := ed.apply(p, size); err != nil {
		return err
	}
	syncAll()
	return nil
}

// timeSync times one sync(2).
func timeSync() time.Duration {
	t0 := time.Now()
	syncAll()
	return time.Since(t0)
}

// writeBig writes size pseudo-random bytes (seeded) to p, making its directory.
func writeBig(p string, size int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		fill(buf, seed+uint64(off))
		if _, err := f.Write(buf[:min(int64(len(buf)), size-off)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// sameFiles fails unless a and b hold the same bytes.
func sameFiles(a, b string) error {
	x, err := os.ReadFile(a)
	if err != nil {
		return err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(x, y) {
		return fmt.Errorf("%s and %s differ after the sync", a, b)
	}
	return nil
}

// countProxy is a loopback TCP proxy that counts the bytes through it, both ways.
type countProxy struct {
	ln     net.Listener
	target string
	n      atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newCountProxy(target string) (*countProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *countProxy) addr() string { return p.ln.Addr().String() }

// reset returns the bytes counted since the last reset.
func (p *countProxy) reset() int64 { return p.n.Swap(0) }

func (p *countProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		var open atomic.Int32
		open.Store(2)
		done := func() {
			if open.Add(-1) == 0 {
				p.mu.Lock()
				delete(p.conns, c)
				delete(p.conns, s)
				p.mu.Unlock()
				c.Close()
				s.Close()
			}
		}
		p.wg.Add(2)
		go p.pipe(s, c, done)
		go p.pipe(c, s, done)
	}
}

// pipe copies src to dst, counting, then half-closes dst (rsync and HTTP both end
// one direction before the other); done is called when src is drained.
func (p *countProxy) pipe(dst, src net.Conn, done func()) {
	defer p.wg.Done()
	defer done()
	buf := make([]byte, 256<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			p.n.Add(int64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (p *countProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
