package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants/pgschema"
)

// The cluster scenarios (cluster-*) need PostgreSQL and start syncd child processes;
// they are opt-in: they run only when named with --only (`--only cluster` names them
// all), never in the default run.
const clusterPrefix = "cluster-"

// optIn reports whether a scenario runs only when named.
func optIn(name string) bool { return strings.HasPrefix(name, clusterPrefix) || optInNames[name] }

// zeroLoss is the goal of every cluster row: each subscriber received every seq of its
// tenant once.
func zeroLoss(d delivery) goal {
	return goal{"0 lost, 0 dup", func(float64, float64, float64) bool {
		return d.lost == 0 && d.dup == 0 && d.got == d.want
	}}
}

// clusterSkip returns the rows of a scenario that cannot run, one per metric.
func clusterSkip(scen string, err error, metrics ...string) []Result {
	var sk errNoServices
	out := make([]Result, 0, len(metrics))
	for _, m := range metrics {
		if errors.As(err, &sk) {
			out = append(out, skipped(scen, m, "", sk.why))
		} else {
			out = append(out, failed(scen, m, "", err))
		}
	}
	return out
}

// busOf is the bus the scenarios use where the bus is not what is measured: Redis
// when configured, else LISTEN/NOTIFY.
func (k *clusterKit) busOf() (url, name string) {
	if k.redis != "" {
		return k.redis, "Redis"
	}
	return "postgres", "LISTEN/NOTIFY"
}

// evTarget is one server set the events scenario loads.
type evTarget struct {
	name  string
	nodes []*syncNode
	toks  []string // [0] the hot tenant, then the spread tenants
}

// evResult sums a target's rounds.
type evResult struct {
	rates   []float64
	del     delivery
	notes   string
	nodeCPU []float64 // CPU used per node, in CPUs
	busy    []float64 // the machine's busy share
}

// runClusterEvents: events/s committed and delivered by single-node syncd (SQLite) and
// by a cluster of 1, 2 and 3 nodes (each GOMAXPROCS=1, one CPU of quota), for one hot
// tenant and for 64 tenants; uploads spread over the nodes' own ports, one subscriber
// per tenant on every node counting what it is sent. Beside them, PostgreSQL's commit
// rate alone for the index's transaction, which bounds the cluster's curve.
func runClusterEvents(ctx context.Context, r *runner) []Result {
	const scen = "cluster-events"
	k, err := newClusterKit()
	if err != nil {
		return clusterSkip(scen, err, "events/s")
	}
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	nT := r.size(64, 4)
	names := []string{"hot"}
	for i := range nT {
		names = append(names, fmt.Sprintf("t%02d", i))
	}
	single, err := k.startSingle(ctx, filepath.Join(dir, "single"))
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	defer single.stop()
	bus, busName := k.busOf()
	c, err := k.startCluster(ctx, filepath.Join(dir, "cluster"), 3, bus, "dir", nil)
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	defer c.stop()
	sToks, err := single.tenants(ctx, names)
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	cToks, err := c.tenants(ctx, names)
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	sleepCtx(ctx, 1200*time.Millisecond) // tenants and tokens reach every node within 1 s
	targets := []evTarget{{"single-node SQLite", single.nodes, sToks}}
	for n := 1; n <= 3; n++ {
		targets = append(targets, evTarget{fmt.Sprintf("%d cluster node%s", n, map[bool]string{true: "s"}[n > 1]), c.nodes[:n], cToks})
	}
	conc := r.size(32, 4)
	d := r.dur(8*time.Second, time.Second)
	common := fmt.Sprintf("%v runs of new 16-byte files, %d concurrent uploads spread over the nodes' own ports (no balancer), 2 rounds in ABBA order; one subscriber per tenant per node; nodes GOMAXPROCS=1, %s; cluster: bus %s, blobs dir:, idle nodes left running",
		d, conc, k.cpu.note, busName)
	var out []Result
	for _, layout := range []struct {
		label string
		from  int
		to    int
	}{{"1 tenant", 0, 1}, {fmt.Sprintf("%d tenants", nT), 1, nT + 1}} {
		res := make([]evResult, len(targets))
		order := []int{0, 1, 2, 3, 3, 2, 1, 0}
		for i, ti := range order {
			t := targets[ti]
			before := sampleCPU(t.nodes)
			rate, del, note, err := measureEvents(ctx, t.nodes, t.toks[layout.from:layout.to], fmt.Sprintf("r%d%s", i, strings.ReplaceAll(layout.label, " ", "")), conc, d)
			if err != nil {
				out = append(out, failed(scen, "events/s, "+layout.label+", "+t.name, "", err))
				return out
			}
			perNode, busy := before.until(sampleCPU(t.nodes))
			res[ti].rates = append(res[ti].rates, rate)
			res[ti].del = sumDelivery(res[ti].del, del)
			res[ti].notes += note
			res[ti].nodeCPU = append(res[ti].nodeCPU, perNode)
			res[ti].busy = append(res[ti].busy, busy)
		}
		base := median(res[0].rates)
		for ti, t := range targets {
			notes := fmt.Sprintf("%s; %s; rounds %s; CPU per node %.2f, machine busy %.0f%%%s", common, res[ti].del,
				fmtRates(res[ti].rates), median(res[ti].nodeCPU), 100*median(res[ti].busy), res[ti].notes)
			metric := "events/s, " + layout.label + ", " + t.name
			if ti == 0 {
				out = append(out, row(scen, metric, median(res[ti].rates), "", 0, notes, zeroLoss(res[ti].del)))
				continue
			}
			out = append(out, row(scen, metric, median(res[ti].rates), "single-node SQLite", base, notes, zeroLoss(res[ti].del)))
		}
	}
	return append(out, pgCommitRows(ctx, r, k, nT, conc, d)...)
}

// measureEvents runs one load on nodes over the tenants of toks and returns the
// uploads acknowledged per second and what the subscribers received.
func measureEvents(ctx context.Context, ns []*syncNode, toks []string, prefix string, conc int, d time.Duration) (float64, delivery, string, error) {
	var subs []*seqSub
	var tenant []int
	var nodes []string
	for _, n := range ns {
		nodes = append(nodes, n.base)
	}
	for t, tok := range toks {
		for j, n := range nodes {
			subs = append(subs, newSeqSub(n, tok, fmt.Sprintf("s%d-%d", t, j)))
			tenant = append(tenant, t)
		}
	}
	set, err := startSubs(ctx, subs, tenant)
	if err != nil {
		return 0, delivery{}, "", err
	}
	bases := set.bases()
	g := &loadGen{cl: newHTTPClient(conc), nodes: nodes, tokens: toks, prefix: prefix}
	rate := g.run(ctx, conc, d, 0)
	heads, err := g.settle(ctx)
	if err != nil {
		set.close()
		return 0, delivery{}, "", err
	}
	if g.acked.Load() == 0 {
		set.close()
		return 0, delivery{}, "", fmt.Errorf("%w%s", errNoEvents, g.errNote())
	}
	return rate, set.drain(heads, bases, 30*time.Second), g.errNote(), nil
}

func sumDelivery(a, b delivery) delivery {
	return delivery{want: a.want + b.want, got: a.got + b.got, lost: a.lost + b.lost, dup: a.dup + b.dup, drops: a.drops + b.drops}
}

func fmtRates(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, formatValue(x))
	}
	return strings.Join(s, ", ")
}

// pgCommitRows measures PostgreSQL alone: conc connections each looping over the
// transaction the index commits for one upload (lock the head row, insert the change
// row, update the head), on 1 tenant and on nT tenants.
func pgCommitRows(ctx context.Context, r *runner, k *clusterKit, nT, conc int, d time.Duration) []Result {
	const scen = "cluster-events"
	var out []Result
	for _, n := range []int{1, nT} {
		metric := fmt.Sprintf("PostgreSQL commits/s alone, %d tenant%s", n, map[bool]string{true: "s"}[n > 1])
		rate, err := pgCommitRate(ctx, k, n, conc, d)
		if err != nil {
			out = append(out, failed(scen, metric, "", err))
			continue
		}
		notes := fmt.Sprintf("a pgx loop, %d connections, %v: BEGIN + SELECT … FOR UPDATE of the head row, then INSERT of one change row + UPDATE of the head + COMMIT in one pipeline (the index's two round trips for a one-change commit), on the same server as the cluster", conc, d)
		out = append(out, row(scen, metric, rate, "", 0, notes))
	}
	return out
}

// pgCommitRate runs the loop of pgCommitRows on a fresh database.
func pgCommitRate(ctx context.Context, k *clusterKit, nT, conc int, d time.Duration) (float64, error) {
	url, drop, err := k.createDB(ctx)
	if err != nil {
		return 0, err
	}
	defer drop()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return 0, err
	}
	cfg.MaxConns = int32(conc)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	ids, err := pgSeed(ctx, pool, nT)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var commits atomic.Int64
	var first error
	var once sync.Once
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rctx.Err() == nil {
				if err := pgCommitOne(ctx, pool, ids[int(next.Add(1))%len(ids)]); err != nil {
					once.Do(func() { first = err })
					return
				}
				commits.Add(1)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(commits.Load()) / time.Since(t0).Seconds(), nil
}

// pgSeed applies the schema and creates nT tenants with their head rows.
func pgSeed(ctx context.Context, pool *pgxpool.Pool, nT int) ([]string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if err := pgschema.Apply(ctx, conn.Conn()); err != nil {
		return nil, err
	}
	var ids []string
	for i := range nT {
		id := fmt.Sprintf("%032x", i+1)
		if _, err := conn.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, id, fmt.Sprintf("pg%d", i), time.Now().UnixNano()); err != nil {
			return nil, err
		}
		if _, err := conn.Exec(ctx, `INSERT INTO tenant_heads (tenant_id, epoch) VALUES ($1, 'bench')`, id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// pgCommitOne is one commit of pgCommitRate.
func pgCommitOne(ctx context.Context, pool *pgxpool.Pool, tid string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var head int64
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT head_seq FROM tenant_heads WHERE tenant_id = $1 FOR UPDATE`, tid).QueryRow(func(r pgx.Row) error { return r.Scan(&head) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	seq, now := head+1, time.Now().UnixNano()
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO tenant_changes (tenant_id, seq, op, from_path, path, is_dir, size, hash, modified, source_client, source_subject, at)
		VALUES ($1, $2, 'create', '', $3, false, 16, $4, $5, 'syncbench', 'bench', $5)`, tid, seq, fmt.Sprintf("ev-%d.txt", seq), strings.Repeat("0", 64), now)
	b.Queue(`UPDATE tenant_heads SET head_seq = $2 WHERE tenant_id = $1`, tid, seq)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	return nil
}

// cpuSample is the CPU time used by some nodes and by the whole machine, at one moment.
type cpuSample struct {
	at          time.Time
	nodes       int
	procs       time.Duration
	busy, total uint64 // /proc/stat ticks
}

// sampleCPU reads the nodes' CPU time and the machine's counters.
func sampleCPU(nodes []*syncNode) cpuSample {
	s := cpuSample{at: time.Now(), nodes: len(nodes)}
	for _, n := range nodes {
		if d, err := cpuOf(n.p.cmd.Process.Pid); err == nil {
			s.procs += d
		}
	}
	s.busy, s.total = machineTicks()
	return s
}

// until returns the CPUs each node used on average between a and b, and the share of
// the machine's CPU time that was busy.
func (a cpuSample) until(b cpuSample) (perNode, busy float64) {
	if wall := b.at.Sub(a.at).Seconds(); wall > 0 && a.nodes > 0 {
		perNode = (b.procs - a.procs).Seconds() / wall / float64(a.nodes)
	}
	if b.total > a.total {
		busy = float64(b.busy-a.busy) / float64(b.total-a.total)
	}
	return perNode, busy
}

// machineTicks returns the busy and total ticks of the "cpu" line of /proc/stat (idle
// and iowait are not busy).
func machineTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest time is already in user time
			break
		}
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total
}
