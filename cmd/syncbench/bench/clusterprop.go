package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/config/nginxconf"
)

// propBus is one bus the propagation scenario measures, with its cluster.
type propBus struct {
	name, url string
	c         *syncCluster
	toks      []string
	cross     []time.Duration // upload answered on one node → event on a subscriber of the other
	same      []time.Duration // upload answered → event on a subscriber of the same node
	sendCross []time.Duration // upload sent → event on a subscriber of the other node
	rates     []float64
	del       delivery
	notes     string
}

// runClusterPropagation: two nodes per bus (Redis, LISTEN/NOTIFY), uploads paced at
// ~1,000 events/s spread over both nodes and 16 tenants, one subscriber per tenant on
// each node. A sample is the time from sending an upload to its event on a subscriber
// of the other node (the same node's subscriber gives the reference without the bus).
func runClusterPropagation(ctx context.Context, r *runner) []Result {
	const scen = "cluster-propagation"
	k, err := newClusterKit()
	if err != nil {
		return clusterSkip(scen, err, "ms p99 cross-node")
	}
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, "ms p99 cross-node", "", err)}
	}
	buses := []*propBus{{name: "LISTEN/NOTIFY", url: "postgres"}}
	var out []Result
	if k.redis != "" {
		buses = append([]*propBus{{name: "Redis", url: k.redis}}, buses...)
	} else {
		out = append(out, skipped(scen, "ms p99 cross-node, Redis", "", "no Redis ("+envRedis+" unset)"))
	}
	nT := r.size(16, 2)
	var names []string
	for i := range nT {
		names = append(names, fmt.Sprintf("p%02d", i))
	}
	for i, b := range buses {
		b.c, err = k.startCluster(ctx, filepath.Join(dir, fmt.Sprintf("bus%d", i)), 2, b.url, "dir", nil)
		if err == nil {
			defer b.c.stop()
			b.toks, err = b.c.tenants(ctx, names)
		}
		if err != nil {
			return append(out, failed(scen, "ms p99 cross-node, "+b.name, "", err))
		}
	}
	sleepCtx(ctx, 1200*time.Millisecond)
	// ~1,000/s, unless that is more than the nodes sustain here: latency at saturation
	// would be queueing, not propagation
	want := float64(r.size(1000, 100))
	rate := want
	for _, b := range buses {
		rate = min(rate, 0.6*b.capacity(ctx, r.dur(3*time.Second, time.Second)))
	}
	rate = max(rate, 10)
	d := r.dur(6*time.Second, time.Second)
	order := append(append([]*propBus{}, buses...), reversed(buses)...)
	for i, b := range order {
		if err := b.measure(ctx, fmt.Sprintf("p%d", i), rate, d); err != nil {
			return append(out, failed(scen, "ms p99 cross-node, "+b.name, "", err))
		}
	}
	for _, b := range buses {
		notes := fmt.Sprintf("2 nodes (GOMAXPROCS=1, %s), %d tenants, uploads of new 16-byte files alternating between the nodes, paced at %.0f/s (%.0f/s wanted; 60%% of the slower bus's closed-loop rate when lower; achieved %s/s), %v per round, ABBA rounds; from the upload's 201 to the event on the other node's subscriber (%d samples); same-node subscriber p50 %.1f / p99 %.1f ms; from sending the upload: p50 %.1f / p99 %.1f ms; %s%s",
			k.cpu.note, nT, rate, want, fmtRates(b.rates), d, len(b.cross), ms(percentile(b.same, 50)), ms(percentile(b.same, 99)),
			ms(percentile(b.sendCross, 50)), ms(percentile(b.sendCross, 99)), b.del, b.notes)
		out = append(out,
			row(scen, "ms p50 cross-node, "+b.name, ms(percentile(b.cross, 50)), "", 0, notes, zeroLoss(b.del)),
			row(scen, "ms p99 cross-node, "+b.name, ms(percentile(b.cross, 99)), "", 0, notes, valueAtMost(50, "ms"), zeroLoss(b.del)))
	}
	return out
}

func reversed[T any](xs []T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out
}

// propTimes are the moments of upload n: sent, answered, and its event on the
// subscriber of the same node and of the other node (Unix ns; 0 = never).
type propTimes struct{ sent, acked, same, cross atomic.Int64 }

// measure runs one round paced at rate on b's two nodes and adds its samples: from the
// upload's answer (the writer knows it committed) to the event on each subscriber; an
// event that came first counts as 0.
func (b *propBus) measure(ctx context.Context, prefix string, rate float64, d time.Duration) error {
	nodes := []string{b.c.nodes[0].base, b.c.nodes[1].base}
	conc := 64
	g := &loadGen{cl: newHTTPClient(conc), nodes: nodes, tokens: b.toks, prefix: prefix}
	ts := make([]propTimes, int(rate*d.Seconds())+conc+16)
	g.onStart = func(n int64, at time.Time) {
		if n < int64(len(ts)) {
			ts[n].sent.Store(at.UnixNano())
		}
	}
	g.onAck = func(n int64, at time.Time) {
		if n < int64(len(ts)) {
			ts[n].acked.Store(at.UnixNano())
		}
	}
	var subs []*seqSub
	var tenant []int
	for t, tok := range b.toks {
		for j, n := range nodes {
			s := newSeqSub(n, tok, fmt.Sprintf("s%d-%d", t, j))
			s.onEvent = func(id int64, at time.Time) {
				if id >= int64(len(ts)) {
					return
				}
				if _, node := g.target(id); node == j {
					ts[id].same.Store(at.UnixNano())
				} else {
					ts[id].cross.Store(at.UnixNano())
				}
			}
			subs = append(subs, s)
			tenant = append(tenant, t)
		}
	}
	set, err := startSubs(ctx, subs, tenant)
	if err != nil {
		return err
	}
	bases := set.bases()
	b.rates = append(b.rates, g.run(ctx, conc, d, rate))
	heads, err := g.settle(ctx)
	if err != nil {
		set.close()
		return err
	}
	b.del = sumDelivery(b.del, set.drain(heads, bases, 30*time.Second))
	b.notes += g.errNote()
	for i := range ts {
		t := &ts[i]
		if t.acked.Load() == 0 {
			continue
		}
		if c := t.cross.Load(); c != 0 {
			b.cross = append(b.cross, time.Duration(max(c-t.acked.Load(), 0)))
			b.sendCross = append(b.sendCross, time.Duration(c-t.sent.Load()))
		}
		if s := t.same.Load(); s != 0 {
			b.same = append(b.same, time.Duration(max(s-t.acked.Load(), 0)))
		}
	}
	return nil
}

// capacity is the uploads per second b's two nodes answered in a short closed loop.
func (b *propBus) capacity(ctx context.Context, d time.Duration) float64 {
	nodes := []string{b.c.nodes[0].base, b.c.nodes[1].base}
	g := &loadGen{cl: newHTTPClient(32), nodes: nodes, tokens: b.toks, prefix: "cap"}
	return g.run(ctx, 32, d, 0)
}

// runClusterKill: three nodes behind nginx, subscribers and uploads through nginx;
// one node is killed with SIGKILL under load. For the subscribers that were on it:
// the time from the kill to their resumed subscription on another node, and to having
// every seq acknowledged before the kill; every subscriber must end with every seq.
func runClusterKill(ctx context.Context, r *runner) []Result {
	const scen = "cluster-kill"
	metrics := []string{"s to resume, max", "s until every seq, max"}
	k, err := newClusterKit()
	if err == nil && k.nginx == "" {
		err = errNoServices{"no nginx (" + envNginx + " unset and none on PATH)"}
	}
	if err != nil {
		return clusterSkip(scen, err, metrics...)
	}
	dir, err := r.dir(scen)
	if err != nil {
		return clusterSkip(scen, err, metrics...)
	}
	bus, busName := k.busOf()
	c, err := k.startCluster(ctx, dir, 3, bus, "dir", nil)
	if err != nil {
		return clusterSkip(scen, err, metrics...)
	}
	defer c.stop()
	proxy, err := startClusterNginx(ctx, k.nginx, filepath.Join(dir, "nginx"), c.nodes)
	if err != nil {
		return clusterSkip(scen, err, metrics...)
	}
	defer proxy.stop()
	toks, err := c.tenants(ctx, []string{"kill"})
	if err != nil {
		return clusterSkip(scen, err, metrics...)
	}
	sleepCtx(ctx, 1200*time.Millisecond)
	ks, err := killRun(ctx, proxy.base, c, toks, r.size(12, 6), float64(r.size(200, 50)), r.dur(3*time.Second, time.Second))
	if err != nil {
		return clusterSkip(scen, err, metrics...)
	}
	if len(ks.resume) == 0 {
		return clusterSkip(scen, fmt.Errorf("no subscriber was on the killed node (%s)", ks.del), metrics...)
	}
	notes := fmt.Sprintf("3 nodes (GOMAXPROCS=1, %s, bus %s) behind nginx (round robin); %d subscribers and uploads paced at %.0f/s through nginx; node 2 killed (SIGKILL) after %v; %d subscribers were on it: resume p50 %.0f ms, every seq p50 %.0f ms; the benchmark's subscriber reconnects 50 ms after a drop (realtime-sync-client backs off about 1 s); %s%s",
		k.cpu.note, busName, ks.subs, ks.rate, ks.pre, len(ks.resume), ms(percentile(ks.resume, 50)), ms(percentile(ks.caught, 50)), ks.del, ks.errs)
	return []Result{
		row(scen, metrics[0], percentile(ks.resume, 100).Seconds(), "", 0, notes, zeroLoss(ks.del)),
		row(scen, metrics[1], percentile(ks.caught, 100).Seconds(), "", 0, notes, zeroLoss(ks.del)),
	}
}

// killStats is what killRun measured.
type killStats struct {
	subs           int
	rate           float64
	pre            time.Duration
	resume, caught []time.Duration
	del            delivery
	errs           string
}

// killRun subscribes n clients through proxy, uploads at rate, kills node 2 after d
// and uploads for 2d more.
func killRun(ctx context.Context, proxy string, c *syncCluster, toks []string, n int, rate float64, d time.Duration) (killStats, error) {
	ks := killStats{subs: n, rate: rate, pre: d}
	subs := make([]*seqSub, n)
	for i := range subs {
		subs[i] = newSeqSub(proxy, toks[0], fmt.Sprintf("k%d", i))
	}
	set, err := startSubs(ctx, subs, make([]int, n))
	if err != nil {
		return ks, err
	}
	bases := set.bases()
	g := &loadGen{cl: newHTTPClient(8), nodes: []string{proxy}, tokens: toks, prefix: "k"}
	done := make(chan struct{})
	go func() { defer close(done); g.run(ctx, 8, 3*d, rate) }()
	sleepCtx(ctx, d)
	var h int64 // every seq acknowledged before the kill
	g.mu.Lock()
	if len(g.heads) > 0 {
		h = g.heads[0]
	}
	g.mu.Unlock()
	tk := time.Now()
	c.nodes[1].kill9()
	caught := watchCatchUp(subs, tk, h, done)
	<-done
	heads, err := g.settle(ctx)
	if err != nil {
		set.close()
		return ks, err
	}
	ks.del = set.drain(heads, bases, 30*time.Second)
	ks.errs = g.errNote()
	for i, s := range subs {
		s.mu.Lock()
		if s.drops > 0 && !s.resumedAt.IsZero() {
			ks.resume = append(ks.resume, s.resumedAt.Sub(tk))
			if at, ok := caught[i]; ok {
				ks.caught = append(ks.caught, at.Sub(tk))
			}
		}
		s.mu.Unlock()
	}
	return ks, nil
}

// watchCatchUp records, until done, when each subscriber dropped after tk had resumed
// and received seq h.
func watchCatchUp(subs []*seqSub, tk time.Time, h int64, done <-chan struct{}) map[int]time.Time {
	out := map[int]time.Time{}
	for {
		for i, s := range subs {
			s.mu.Lock()
			if _, seen := out[i]; !seen && s.drops > 0 && s.dropAt.After(tk) && !s.resumedAt.IsZero() && s.last >= h {
				out[i] = time.Now()
			}
			s.mu.Unlock()
		}
		select {
		case <-done:
			return out
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// nginxProxy is nginx run as syncbench's child.
type nginxProxy struct {
	p    *proc
	base string
}

func (n *nginxProxy) stop() { n.p.stop() }

// startClusterNginx runs nginx in the foreground in front of nodes.
func startClusterNginx(ctx context.Context, bin, dir string, nodes []*syncNode) (*nginxProxy, error) {
	servers := make([]string, len(nodes))
	for i, n := range nodes {
		servers[i] = strings.TrimPrefix(n.base, "http://")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	args, err := nginxconf.Write(dir, listen, servers, nginxconf.Options{WorkerConnections: 4096, RetryOn503: true})
	if err != nil {
		return nil, err
	}
	p, err := startProc("nginx", dir, bin, args, nil)
	if err != nil {
		return nil, err
	}
	np := &nginxProxy{p: p, base: "http://" + listen}
	if err := waitHTTP(ctx, p, np.base+"/readyz", 15*time.Second, false); err != nil {
		p.stop()
		return nil, err
	}
	return np, nil
}
