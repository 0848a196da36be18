package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
)

// Scenarios of the commit path: small uploads against the minimal durable handler
// (smalluploads.go), and uploads spread over many tenants against the same writers on
// one tenant. syncd runs in this process, so sync/fsys's flush counter (and its
// slow-disk delay) covers both sides of a row: the peer handler flushes through the
// same seam.

// slowDisk is the simulated flush time of the slow-disk rows (sync/fsys.SetSyncDelay:
// every fsync, and every SQLite WAL commit, holds a one-flush-at-a-time device this long).
const slowDisk = 5 * time.Millisecond

// uploadSide is one side of an ABBA upload comparison and what it measured.
type uploadSide struct {
	url    func(i int) (url, token string)
	t      time.Duration
	n      int
	syncs  int64         // flushes counted by sync/fsys during this side's parts
	wal    int64         // of which SQLite's WAL commits
	cpu    time.Duration // CPU time of the process (client included) during this side's parts
	failed string
}

func (s *uploadSide) rate() float64       { return float64(s.n) / s.t.Seconds() }
func (s *uploadSide) perFile() float64    { return float64(s.syncs) / float64(max(s.n, 1)) }
func (s *uploadSide) walPerFile() float64 { return float64(s.wal) / float64(max(s.n, 1)) }
func (s *uploadSide) cpuPerFile() float64 {
	return float64(s.cpu.Microseconds()) / float64(max(s.n, 1))
}
func (s *uploadSide) err(e error) error { return fmt.Errorf("%s: %w", s.failed, e) }

// uploadABBA uploads files 0..n-1 (4 KiB, distinct) to each side with conc workers, in
// the order b, a, a, b (halves), counting each side's time and flushes.
func uploadABBA(ctx context.Context, cl *http.Client, n, conc int, a, b *uploadSide) error {
	half := n / 2
	for _, p := range []struct {
		s        *uploadSide
		from, to int
	}{{b, 0, half}, {a, 0, half}, {a, half, n}, {b, half, n}} {
		c0 := fsys.SyncCount()
		_, _, w0 := fsys.FlushStats()
		cpu0 := cpuSelf()
		d, err := uploadRange(ctx, cl, p.from, p.to, conc, p.s.url)
		if err != nil {
			return p.s.err(err)
		}
		p.s.t += d
		p.s.n += p.to - p.from
		p.s.syncs += fsys.SyncCount() - c0
		_, _, w1 := fsys.FlushStats()
		p.s.wal += w1 - w0
		p.s.cpu += cpuSelf() - cpu0
	}
	return nil
}

// withSlowDisk runs fn with sync/fsys's simulated flush delay set to d.
func withSlowDisk(d time.Duration, fn func() error) error {
	old := fsys.SetSyncDelay(d)
	defer fsys.SetSyncDelay(old)
	return fn()
}

// runCommits: 32 writers PUTting new 4 KiB files spread over 100 tenants against the
// same writers on one tenant (PUT/s, ABBA halves), on this disk and on a simulated
// slow one, with the flushes per PUT of each side.
func runCommits(ctx context.Context, r *runner) []Result {
	const scen, metric = "commits", "PUT/s"
	nten := r.size(100, 8)
	n, nSlow := r.size(6000, 320), r.size(1500, 96)
	const writers = 32
	peer := "1 tenant"
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	env, err := startSyncd(ctx, dir)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	defer env.close()
	toks := make([]string, nten)
	for i := range toks {
		if toks[i], err = env.tenant(ctx, fmt.Sprintf("t%03d", i), writeRole); err != nil {
			return []Result{failed(scen, metric, "", err)}
		}
	}
	cl := newHTTPClient(writers)
	// Files go to each tenant's root: no directory to create, which would cost the
	// many-tenant side one mkdir per tenant.
	run := func(n int, name string) (*uploadSide, *uploadSide, error) {
		many := &uploadSide{failed: fmt.Sprintf("%d tenants", nten), url: func(i int) (string, string) {
			return fmt.Sprintf("%s/api/files/%s-m%06d.bin", env.url, name, i), toks[i%nten]
		}}
		one := &uploadSide{failed: peer, url: func(i int) (string, string) {
			return fmt.Sprintf("%s/api/files/%s-o%06d.bin", env.url, name, i), toks[0]
		}}
		return many, one, uploadABBA(ctx, cl, n, writers, many, one)
	}
	notes := func(many, one *uploadSide, what string) string {
		return fmt.Sprintf("%d new 4 KiB files by %d concurrent clients %s, spread over %d tenants vs into 1, ABBA halves; fsyncs/PUT (files, directories, SQLite WAL commits) %.2f vs %.2f, of which WAL commits %.2f vs %.2f; CPU a PUT (process, client included) %.0f vs %.0f µs",
			many.n, writers, what, nten, many.perFile(), one.perFile(), many.walPerFile(), one.walPerFile(),
			many.cpuPerFile(), one.cpuPerFile())
	}
	many, one, err := run(n, "c")
	if err != nil {
		return []Result{failed(scen, metric, peer, err)}
	}
	r.log.Info("commits", "many", int(many.rate()), "one", int(one.rate()), "fsyncs_many", many.perFile(), "fsyncs_one", one.perFile(),
		"wal_many", many.walPerFile(), "wal_one", one.walPerFile(), "cpu_us_many", many.cpuPerFile(), "cpu_us_one", one.cpuPerFile())
	out := []Result{row(scen, metric, many.rate(), peer, one.rate(), notes(many, one, "on this disk"), ratioAtLeast(0.9))}
	out = append(out, commitsSpreadControl(ctx, env, cl, toks, n, writers))
	err = withSlowDisk(slowDisk, func() error {
		many, one, err = run(nSlow, "s")
		return err
	})
	if err != nil {
		return append(out, failed(scen, metric+", slow disk", peer, err))
	}
	return append(out, row(scen, fmt.Sprintf("%s, %s/fsync disk", metric, slowDisk), many.rate(), peer, one.rate(),
		notes(many, one, fmt.Sprintf("with every flush delayed %s on a one-at-a-time simulated device", slowDisk)), ratioAtLeast(0.9)))
}

// commitsSpreadControl is the control row of commits: the same 100-tenant side against
// one tenant whose files spread over as many directories (d00/ … d99/, made before the
// measurement), so that both sides' batches touch as many directories and index pages.
// Their ratio is what tenancy itself costs; the main row's gap beyond it is the cost
// of rows and files spread out (docs/BENCHMARKS.md, "Commits: session 22").
func commitsSpreadControl(ctx context.Context, env *syncEnv, cl *http.Client, toks []string, n, writers int) Result {
	const scen, metric = "commits", "PUT/s, vs 1 tenant over as many directories"
	nten := len(toks)
	peer := fmt.Sprintf("1 tenant, %d directories", nten)
	dirFile := func(name string) func(i int) (string, string) {
		return func(i int) (string, string) {
			return fmt.Sprintf("%s/api/files/d%02d/%s-o%06d.bin", env.url, i%nten, name, i), toks[0]
		}
	}
	if _, err := uploadRange(ctx, cl, 0, nten, writers, dirFile("w")); err != nil {
		return failed(scen, metric, peer, err)
	}
	many := &uploadSide{failed: fmt.Sprintf("%d tenants", nten), url: func(i int) (string, string) {
		return fmt.Sprintf("%s/api/files/x-m%06d.bin", env.url, i), toks[i%nten]
	}}
	spread := &uploadSide{failed: peer, url: dirFile("x")}
	if err := uploadABBA(ctx, cl, n, writers, many, spread); err != nil {
		return failed(scen, metric, peer, err)
	}
	return row(scen, metric, many.rate(), peer, spread.rate(),
		fmt.Sprintf("control: %d new 4 KiB files by %d concurrent clients, spread over %d tenants (each tenant's root) vs over %d directories of 1 tenant, ABBA halves; CPU a PUT %.0f vs %.0f µs",
			many.n, writers, nten, nten, many.cpuPerFile(), spread.cpuPerFile()))
}
