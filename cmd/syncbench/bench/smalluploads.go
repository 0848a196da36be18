package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
)

// The small-uploads scenario: 4 KiB PUTs against the minimal durable handler into a
// fresh directory, an existing one and a fresh one on a simulated slow disk. Both
// sides run in this process and write to the same file system, so each part starts
// from the same state: the write-back of what was written before it (by the
// previous part, the previous scenario or anything else on the machine) is waited
// for, and the heap the previous part left is collected, before the part is timed.

// smallSide is one side of a small-uploads row: what uploadSide counts, plus the
// process's CPU time during the side's parts (client and server: the client's share
// is the same work on both sides).
type smallSide struct {
	uploadSide
	cpu   time.Duration
	parts []float64 // files/s of each part, in run order
}

func (s *smallSide) cpuPerFile() time.Duration { return s.cpu / time.Duration(max(s.n, 1)) }

func (s *smallSide) describe() string {
	return fmt.Sprintf("%.2f fsyncs/file, %d µs CPU/file", s.perFile(), s.cpuPerFile().Microseconds())
}

// smallParts is the order of a row's parts: quarter q of the files goes to side
// "a" or "b" as listed, b a | a b | a b | b a (ABBA over the halves and BAAB-ABBA
// over the quarters), so that a drift in the disk's or the machine's speed during
// the row, linear or not, falls on both sides alike.
var smallParts = []struct {
	side    byte
	quarter int
}{{'b', 0}, {'a', 0}, {'a', 1}, {'b', 1}, {'a', 2}, {'b', 2}, {'b', 3}, {'a', 3}}

// settle waits, untimed, for the write-back of the file system holding dir
// (syncfs(2): every dirty page and the journal, whoever wrote them) and collects the
// garbage on the heap, so that the next part pays for neither.
func settle(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syncFS(f); err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	runtime.GC()
	return nil
}

// settledABBA uploads files 0..n-1 (4 KiB, distinct) to each side with conc workers,
// in the order of smallParts, settling (settle(dir)) before each part, and counts
// each side's time, flushes and CPU.
func settledABBA(ctx context.Context, cl *http.Client, dir string, n, conc int, a, b *smallSide) error {
	for _, p := range smallParts {
		s := a
		if p.side == 'b' {
			s = b
		}
		from, to := p.quarter*n/4, (p.quarter+1)*n/4
		if err := settle(dir); err != nil {
			return s.err(err)
		}
		c0, cpu0 := fsys.SyncCount(), cpuSelf()
		d, err := uploadRange(ctx, cl, from, to, conc, s.url)
		if err != nil {
			return s.err(err)
		}
		s.cpu += cpuSelf() - cpu0
		s.syncs += fsys.SyncCount() - c0
		s.t += d
		s.n += to - from
		s.parts = append(s.parts, float64(to-from)/d.Seconds())
	}
	return nil
}

// runSmallUploads: 4 KiB PUTs by 8 concurrent clients to syncd and to the minimal
// durable handler, in settled ABBA parts (settledABBA), after an untimed warm-up: into
// a fresh directory (each half of the files into one that does not exist yet), into
// an existing one (already holding the first row's files), and into a fresh directory
// on a simulated slow disk.
func runSmallUploads(ctx context.Context, r *runner) []Result {
	const scen, metric, peer = "small-uploads", "files/s", "minimal durable handler"
	n, nSlow := r.size(10000, 400), r.size(1000, 80)
	const conc = 8
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	env, tok, err := startBenchSyncd(ctx, dir)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer env.close()
	peerURL, stop, err := startDurablePeer(filepath.Join(dir, "peer"))
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer stop()
	cl := newHTTPClient(conc)

	// run uploads n files named NAME%05d.bin under a directory per half (dirOf).
	run := func(n int, dirOf func(i int) string, name string) (*smallSide, *smallSide, error) {
		ss := &smallSide{uploadSide: uploadSide{failed: "syncspace", url: func(i int) (string, string) {
			return fmt.Sprintf("%s/api/files/%s/%s%05d.bin", env.url, dirOf(i), name, i), tok
		}}}
		pv := &smallSide{uploadSide: uploadSide{failed: peer, url: func(i int) (string, string) {
			return fmt.Sprintf("%s/%s/%s%05d.bin", peerURL, dirOf(i), name, i), ""
		}}}
		err := settledABBA(ctx, cl, dir, n, conc, ss, pv)
		if err == nil {
			r.log.Info(scen, "files", n, "name", name, "syncspace_parts", ss.parts, "peer_parts", pv.parts,
				"syncspace", ss.describe(), "peer", pv.describe())
		}
		return ss, pv, err
	}
	halves := func(prefix string, n int) func(int) string {
		return func(i int) string { return fmt.Sprintf("%s%d", prefix, 2*i/n) }
	}
	notes := func(ss, pv *smallSide, what string) string {
		return fmt.Sprintf("%d new 4 KiB files %s, %d concurrent keep-alive clients, SHA-256 checked, durable before 2xx on both sides; "+
			"ABBA over halves and quarters, each part after a syncfs and a GC (untimed); "+
			"syncspace %s, handler %s (CPU: this process, client included)",
			ss.n, what, conc, ss.describe(), pv.describe())
	}

	// Untimed warm-up of both sides (connections, heap, the first directories): the
	// first part of a process otherwise ran at half the speed of the others.
	if _, _, err := run(r.size(400, 16), func(int) string { return "warm" }, "w"); err != nil {
		return []Result{failed(scen, metric, peer, fmt.Errorf("warm-up: %w", err))}
	}

	var out []Result
	ss, pv, err := run(n, halves("new", n), "f")
	if err != nil {
		return []Result{failed(scen, metric, peer, err)}
	}
	out = append(out, row(scen, metric, ss.rate(), peer, pv.rate(),
		notes(ss, pv, "into a fresh directory (one per half, made by its first PUT)"), ratioAtLeast(0.8)))

	// The same directories again, now holding n/2 files each.
	ss, pv, err = run(n, halves("new", n), "g")
	if err != nil {
		return append(out, failed(scen, metric+", existing dir", peer, err))
	}
	out = append(out, row(scen, metric+", existing dir", ss.rate(), peer, pv.rate(),
		notes(ss, pv, fmt.Sprintf("into an existing directory (holding %d files)", n/2)), ratioAtLeast(0.8)))

	err = withSlowDisk(slowDisk, func() error {
		ss, pv, err = run(nSlow, halves("slow", nSlow), "h")
		return err
	})
	if err != nil {
		return append(out, failed(scen, metric+", slow disk", peer, err))
	}
	out = append(out, row(scen, fmt.Sprintf("%s, %s/fsync disk", metric, slowDisk), ss.rate(), peer, pv.rate(),
		notes(ss, pv, fmt.Sprintf("into a fresh directory, every flush delayed %s on a one-at-a-time simulated device (sync/fsys.SetSyncDelay)", slowDisk)),
		ratioAtLeast(1.2)))
	return out
}
