package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
)

// runFanout: 1 tenant × 2,000 subscribers; syncd vs the minimal gorilla hub vs
// Centrifugo (memory broker, HTTP publish API). Each target runs twice: saturated
// (delivered events/s) and at a steady 5 events/s (publish→receive latency).
func runFanout(ctx context.Context, r *runner) []Result {
	const scen = "fanout"
	fr := &fanoutRun{r: r, nsubs: r.size(2000, 60), cl: newHTTPClient(fanPubs),
		warm: r.dur(3*time.Second, time.Second), measure: r.dur(10*time.Second, 2*time.Second),
		latWarm: r.dur(time.Second, 500*time.Millisecond), latMeasure: r.dur(8*time.Second, 2*time.Second)}
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	// syncspace, in this process
	env, tok, err := startBenchSyncd(ctx, dir)
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	ss, ssLat, err := fr.both(ctx, func() (*hubTarget, func(), error) {
		return syncspaceTarget(env.url, []string{tok}, fr.cl), func() {}, nil
	})
	env.close()
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	r.log.Info("fanout syncspace", "events/s", int(ss.eventsPerSec), "published/s", int(ss.published), "p50", ssLat.p50, "p99", ssLat.p99, "dropped", ss.dropped)
	out := fr.vsMiniHub(ctx, ss, ssLat)
	return append(out, fr.vsCentrifugo(ctx, dir, ss, ssLat)...)
}

// The fan-out scenario's publishers, events in flight per subscriber and steady
// rate of its latency runs.
const (
	fanPubs, fanWindow = 64, 64
	fanLatRate         = 5.0
)

// fanoutRun is one fanout scenario: its sizes and the rows' notes.
type fanoutRun struct {
	r                                  *runner
	nsubs                              int
	cl                                 *http.Client
	warm, measure, latWarm, latMeasure time.Duration
}

// both measures one server twice: throughput (rate 0), then latency at fanLatRate.
func (fr *fanoutRun) both(ctx context.Context, mk func() (*hubTarget, func(), error)) (tput, lat fanStats, err error) {
	for i, rate := range []float64{0, fanLatRate} {
		t, stop, err := mk()
		if err != nil {
			return tput, lat, err
		}
		w, m := fr.warm, fr.measure
		if rate > 0 {
			w, m = fr.latWarm, fr.latMeasure
		}
		st, err := fanRun(ctx, t, 1, fr.nsubs, fanPubs, fanWindow, w, m, rate)
		stop()
		if err != nil {
			return tput, lat, err
		}
		if i == 0 {
			tput = st
		} else {
			lat = st
		}
	}
	return tput, lat, nil
}

func (fr *fanoutRun) notes() string {
	return fmt.Sprintf("%d subscribers, ~250-byte events; events/s: %d publishers flow-controlled to ≤ %d events in flight per subscriber, %s window; syncspace events are durable PUTs, peers' are in-memory publishes; syncspace subscribers use batch:true",
		fr.nsubs, fanPubs, fanWindow, fr.measure)
}

func (fr *fanoutRun) latNotes() string {
	return fmt.Sprintf("publish→receive at a steady %g events/s (%g deliveries/s), %s, sampled subscribers; syncspace's includes the durable commit of the PUT", fanLatRate, fanLatRate*float64(fr.nsubs), fr.latMeasure)
}

// vsMiniHub: the minimal gorilla hub, in this process like syncd.
func (fr *fanoutRun) vsMiniHub(ctx context.Context, ss, ssLat fanStats) []Result {
	const scen = "fanout"
	ms, msLat, err := fr.both(ctx, func() (*hubTarget, func(), error) {
		u, stop, err := serveLocal(NewMiniHub())
		if err != nil {
			return nil, nil, err
		}
		return miniHubTarget(u, fr.cl), stop, nil
	})
	if err != nil {
		return []Result{failed(scen, "events/s", "minimal gorilla hub", err)}
	}
	fr.r.log.Info("fanout minimal hub", "events/s", int(ms.eventsPerSec), "p50", msLat.p50, "p99", msLat.p99, "dropped", ms.dropped)
	return []Result{
		row(scen, "events/s", ss.eventsPerSec, "minimal gorilla hub", ms.eventsPerSec,
			fr.notes()+fmt.Sprintf("; events published/s: syncspace %.0f, minimal hub %.0f; subscribers dropped as slow: %d vs %d", ss.published, ms.published, ss.dropped, ms.dropped), ratioAtLeast(0.9)),
		row(scen, "ms p99", ms2(ssLat.p99), "minimal gorilla hub", ms2(msLat.p99), fr.latNotes(), ratioAtMost(1.5)),
		row(scen, "ms p50", ms2(ssLat.p50), "minimal gorilla hub", ms2(msLat.p50), fr.latNotes()),
	}
}

// vsCentrifugo: Centrifugo, in its own process.
func (fr *fanoutRun) vsCentrifugo(ctx context.Context, dir string, ss, ssLat fanStats) []Result {
	const scen = "fanout"
	cs, csLat, cerr := fr.both(ctx, func() (*hubTarget, func(), error) {
		c, err := startCentrifugo(ctx, fr.r, dir)
		if err != nil {
			return nil, nil, errSkip{err}
		}
		return c.target(fr.cl), c.stop, nil
	})
	var sk errSkip
	switch {
	case errors.As(cerr, &sk):
		return []Result{withSyncspace(skipped(scen, "events/s", "Centrifugo v6.9.1", sk.Error()), ss.eventsPerSec)}
	case cerr != nil:
		return []Result{failed(scen, "events/s", "Centrifugo v6.9.1", cerr)}
	}
	fr.r.log.Info("fanout centrifugo", "events/s", int(cs.eventsPerSec), "p50", csLat.p50, "p99", csLat.p99)
	return []Result{
		row(scen, "events/s", ss.eventsPerSec, "Centrifugo v6.9.1", cs.eventsPerSec,
			fr.notes()+fmt.Sprintf("; events published/s: syncspace %.0f, Centrifugo %.0f", ss.published, cs.published), ratioAtLeast(1.0)),
		row(scen, "ms p99", ms2(ssLat.p99), "Centrifugo v6.9.1", ms2(csLat.p99), fr.latNotes()),
	}
}

// ms2 is ms for rows (milliseconds as float64).
func ms2(d time.Duration) float64 { return ms(d) }

// errSkip marks a peer that could not be set up (its row is "skipped").
type errSkip struct{ error }

// runTenants: delivered events/s with 100 tenants × 50 subscribers against 1 tenant ×
// 50 subscribers, same publishers.
func runTenants(ctx context.Context, r *runner) []Result {
	const scen, metric = "tenants", "events/s"
	nten, per := r.size(100, 8), r.size(50, 8)
	warm, measure := r.dur(3*time.Second, time.Second), r.dur(8*time.Second, 2*time.Second)
	const pubs, window = 32, 32
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
	cl := newHTTPClient(pubs)
	one, err := fanRun(ctx, syncspaceTarget(env.url, toks[:1], cl), 1, per, pubs, window, warm, measure, 0)
	if err != nil {
		return []Result{failed(scen, metric, "1 tenant", err)}
	}
	many, err := fanRun(ctx, syncspaceTarget(env.url, toks, cl), nten, per, pubs, window, warm, measure, 0)
	if err != nil {
		return []Result{failed(scen, metric, "1 tenant", fmt.Errorf("%d tenants: %w", nten, err))}
	}
	r.log.Info("tenants", "one", int(one.eventsPerSec), "many", int(many.eventsPerSec))
	notes := fmt.Sprintf("syncspace %d tenants × %d subscribers vs syncspace 1 tenant × %d subscribers; %d publishers (durable PUTs) spread over the tenants; events published/s %.0f vs %.0f",
		nten, per, per, pubs, many.published, one.published)
	out := []Result{row(scen, metric, many.eventsPerSec, fmt.Sprintf("1 tenant × %d", per), one.eventsPerSec, notes, ratioAtLeast(0.9))}

	// The write path alone, without subscribers: is the difference in the commits?
	// Files go to each tenant's root (no directory to create, which would cost the
	// 100-tenant side 100 mkdirs), in ABBA halves.
	n := r.size(2000, 200)
	putRate := func(k, from, to int) (time.Duration, error) {
		return uploadRange(ctx, cl, from, to, pubs, func(i int) (string, string) {
			return fmt.Sprintf("%s/api/files/put%d-f%06d.bin", env.url, k, i), toks[i%k]
		})
	}
	var dOne, dMany time.Duration
	for _, step := range []struct {
		k        int
		from, to int
		d        *time.Duration
	}{{1, 0, n / 2, &dOne}, {nten, 0, n / 2, &dMany}, {nten, n / 2, n, &dMany}, {1, n / 2, n, &dOne}} {
		d, err := putRate(step.k, step.from, step.to)
		if err != nil {
			return append(out, failed(scen, "PUT/s", "1 tenant", err))
		}
		*step.d += d
	}
	pOne, pMany := float64(n)/dOne.Seconds(), float64(n)/dMany.Seconds()
	return append(out, row(scen, "PUT/s", pMany, "1 tenant", pOne,
		fmt.Sprintf("write path alone: %d new 4 KiB files by %d concurrent clients, spread over %d tenants vs into 1, no subscribers, ABBA halves", n, pubs, nten)))
}

// centrifugo is a running Centrifugo peer.
type centrifugo struct {
	p    *proc
	base string
	key  string
}

func (c *centrifugo) stop() { c.p.stop() }

// startCentrifugo starts Centrifugo on a loopback port with the memory broker, its
// HTTP API behind a key, and anonymous clients allowed to subscribe.
func startCentrifugo(ctx context.Context, r *runner, dir string) (*centrifugo, error) {
	bin, err := r.inst.centrifugo(ctx)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cdir := filepath.Join(dir, "centrifugo")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return nil, err
	}
	key := "syncbench-api-key"
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"http_api":    map[string]any{"key": key},
		"client":      map[string]any{"insecure": true},
		"engine":      map[string]any{"type": "memory"},
		"health":      map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true}, // loopback only: no reporting
		"log":         map[string]any{"level": "error"},
	}
	path := filepath.Join(cdir, "config.json")
	if err := writeConfig(path, cfg); err != nil {
		return nil, err
	}
	p, err := startProc("centrifugo", cdir, bin, []string{"--config", path}, nil)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(ctx, p, base+"/health", 20*time.Second, false); err != nil {
		p.stop()
		return nil, err
	}
	return &centrifugo{p: p, base: base, key: key}, nil
}

// target drives Centrifugo: clients connect anonymously and subscribe to channel
// "bench"; events are published with the HTTP API.
func (c *centrifugo) target(cl *http.Client) *hubTarget {
	wsURL := "ws" + c.base[len("http"):] + "/connection/websocket"
	h := http.Header{"X-API-Key": {c.key}}
	return &hubTarget{
		name: "Centrifugo v6.9.1",
		dial: func(ctx context.Context, i, _ int) (*websocket.Conn, error) {
			return dialCentrifugo(ctx, wsURL, i)
		},
		publish: func(ctx context.Context, id int64, _ int) error {
			body := append(append([]byte(`{"channel":"bench","data":`), peerPayload(id)...), '}')
			return post(ctx, cl, c.base+"/api/publish", h, body)
		},
		pong: []byte("{}"),
	}
}

// dialCentrifugo connects with the JSON protocol and subscribes to "bench".
func dialCentrifugo(ctx context.Context, wsURL string, i int) (*websocket.Conn, error) {
	c, _, err := dialer(i).DialContext(ctx, wsURL, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	step := func(cmd string, id string) error {
		if err := c.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
			return err
		}
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return err
			}
			for _, line := range bytes.Split(b, []byte("\n")) {
				if bytes.Contains(line, []byte(`"error"`)) {
					return fmt.Errorf("centrifugo refused: %.200s", line)
				}
				if bytes.Contains(line, []byte(`"id":`+id)) {
					return nil
				}
			}
		}
	}
	if err := step(`{"id":1,"connect":{"name":"syncbench"}}`, "1"); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := step(`{"id":2,"subscribe":{"channel":"bench"}}`, "2"); err != nil {
		c.Close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

// listenRe finds the address in syncd's "syncd listening" log line or the minihub's
// "listening ADDR" line.
var listenRe = regexp.MustCompile(`listening"? addr=(127\.0\.0\.1:\d+)|^listening (127\.0\.0\.1:\d+)`)

// waitListen polls p's log for the listening address.
func waitListen(ctx context.Context, p *proc, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if b, err := os.ReadFile(p.log); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
					return m[1] + m[2], nil
				}
			}
		}
		if p.exited() {
			return "", fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("%s did not report its address: %s", p.name, p.tail())
}

// rssTarget is one server process whose memory per idle connection is measured.
type rssTarget struct {
	name string
	p    *proc
	dial func(ctx context.Context, i int) (*websocket.Conn, error)
	pong []byte
}

// runRSS: resident memory per idle, subscribed connection at 10,000 connections, with
// each server in its own process: syncd (this binary re-executed as `__syncd`, i.e.
// daemon.Run, the same code as cmd/syncd), the minimal gorilla hub (`__minihub`) and
// Centrifugo.
func runRSS(ctx context.Context, r *runner) []Result {
	const scen, metric = "rss", "KiB/conn"
	n := r.size(10000, 300)
	base := r.size(200, 50)
	if lim := fileLimit(); lim < uint64(n+500) {
		return []Result{skipped(scen, metric, "", fmt.Sprintf("open-file limit %d too low for %d connections", lim, n))}
	}
	self, err := os.Executable()
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}

	measure := func(t *rssTarget) (float64, error) {
		defer t.p.stop()
		return rssPerConn(ctx, t, base, n, r.opts.CPUProfileDir != "")
	}

	// syncspace child
	ssv, err := func() (float64, error) {
		t, err := startSyncdChild(ctx, self, filepath.Join(dir, "syncd"), r.childEnv())
		if err != nil {
			return 0, err
		}
		return measure(t)
	}()
	if err != nil {
		return []Result{failed(scen, metric, "", err)}
	}
	notes := fmt.Sprintf("server RSS growth from %d to %d idle connections / %d (each server in its own process; syncspace connections authenticated and subscribed)", base, n, n-base)
	out := []Result{row(scen, metric, ssv, "", 0, notes, valueAtMost(8, "KiB"))}

	mv, err := func() (float64, error) {
		p, err := startProc("minihub", dir, self, []string{"__minihub"}, r.childEnv())
		if err != nil {
			return 0, err
		}
		addr, err := waitListen(ctx, p, 20*time.Second)
		if err != nil {
			p.stop()
			return 0, err
		}
		return measure(&rssTarget{name: "minimal gorilla hub", p: p, dial: func(ctx context.Context, i int) (*websocket.Conn, error) {
			return dialGreeted(ctx, "ws://"+addr+"/ws", i, `"Ack"`)
		}})
	}()
	if err != nil {
		out = append(out, failed(scen, metric, "minimal gorilla hub", err))
	} else {
		out = append(out, row(scen, metric, ssv, "minimal gorilla hub", mv, notes))
	}

	cv, err := func() (float64, error) {
		c, err := startCentrifugo(ctx, r, dir)
		if err != nil {
			return 0, errSkip{err}
		}
		wsURL := "ws" + c.base[len("http"):] + "/connection/websocket"
		return measure(&rssTarget{name: "Centrifugo", p: c.p, pong: []byte("{}"), dial: func(ctx context.Context, i int) (*websocket.Conn, error) {
			return dialCentrifugo(ctx, wsURL, i)
		}})
	}()
	var sk errSkip
	switch {
	case errors.As(err, &sk):
		out = append(out, withSyncspace(skipped(scen, metric, "Centrifugo v6.9.1", sk.Error()), ssv))
	case err != nil:
		out = append(out, failed(scen, metric, "Centrifugo v6.9.1", err))
	default:
		out = append(out, row(scen, metric, ssv, "Centrifugo v6.9.1 (defaults)", cv, notes))
	}
	return out
}

// startSyncdChild prepares a data dir with tenant "bench" and a read token (syncctl's
// local mode) and starts syncd in a child process.
func startSyncdChild(ctx context.Context, self, dir string, env []string) (*rssTarget, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	if code := ctl.Run(ctx, []string{"--data", data, "tenant", "create", "bench"}, &stdout, &stderr); code != 0 {
		return nil, fmt.Errorf("syncctl tenant create: %s", strings.TrimSpace(stderr.String()))
	}
	stdout.Reset()
	if code := ctl.Run(ctx, []string{"--data", data, "token", "issue", "--tenant", "bench", "--subject", "rss", "--role", "read", "--ttl", "24h"}, &stdout, &stderr); code != 0 {
		return nil, fmt.Errorf("syncctl token issue: %s", strings.TrimSpace(stderr.String()))
	}
	token := strings.TrimSpace(stdout.String())
	cfgPath := filepath.Join(dir, "syncd.json")
	if err := writeConfig(cfgPath, benchConfig(data, "127.0.0.1:0")); err != nil {
		return nil, err
	}
	p, err := startProc("syncd", dir, self, []string{"__syncd", "-config", cfgPath}, env)
	if err != nil {
		return nil, err
	}
	addr, err := waitListen(ctx, p, 30*time.Second)
	if err != nil {
		p.stop()
		return nil, err
	}
	wsURL := "ws://" + addr + "/ws"
	return &rssTarget{name: "syncspace", p: p, dial: func(ctx context.Context, i int) (*websocket.Conn, error) {
		return dialSyncspace(ctx, wsURL, token, i)
	}}, nil
}

// rssPerConn opens base connections, samples the server's RSS, opens up to n, samples
// again and returns the growth per connection in KiB. Connections stay idle (the
// client answers pings) until the end.
//
// With profile set, the child is asked (SIGUSR1) for heap and goroutine profiles at n
// connections (written where SYNCBENCH_PROFILE_DIR points, see childEnv).
func rssPerConn(ctx context.Context, t *rssTarget, base, n int, profile bool) (float64, error) {
	conns := make([]*websocket.Conn, 0, n)
	var mu sync.Mutex
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	open := func(from, to int) error {
		sem := make(chan struct{}, 32)
		var firstErr error
		var emu sync.Mutex
		for i := from; i < to; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := t.dial(ctx, i)
				if err != nil {
					emu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s connection %d: %w", t.name, i, err)
					}
					emu.Unlock()
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				go idleReader(c, t.pong)
			}(i)
		}
		wg.Wait()
		return firstErr
	}
	if err := open(0, base); err != nil {
		return 0, err
	}
	r0, err := settledRSS(ctx, t.p)
	if err != nil {
		return 0, err
	}
	if err := open(base, n); err != nil {
		return 0, err
	}
	r1, err := settledRSS(ctx, t.p)
	if err != nil {
		return 0, err
	}
	if profile && ProfileSignal != nil {
		_ = t.p.cmd.Process.Signal(ProfileSignal)
		sleepCtx(ctx, 2*time.Second)
	}
	return float64(r1-r0) / float64(n-base) / 1024, nil
}

// idleReader keeps a client connection alive: it answers pings (gorilla does so while
// reading) and application pings equal to pong.
func idleReader(c *websocket.Conn, pong []byte) {
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return
		}
		if pong != nil && bytes.Equal(bytes.TrimSpace(b), pong) {
			_ = c.WriteMessage(websocket.TextMessage, pong)
		}
	}
}

// settledRSS waits for the process to settle and returns the median of a few samples.
func settledRSS(ctx context.Context, p *proc) (int64, error) {
	sleepCtx(ctx, 2*time.Second)
	var xs []float64
	for i := 0; i < 5; i++ {
		v, err := rssOf(p.cmd.Process.Pid)
		if err != nil {
			return 0, fmt.Errorf("%s: %w (%s)", p.name, err, p.tail())
		}
		xs = append(xs, float64(v))
		sleepCtx(ctx, 400*time.Millisecond)
	}
	return int64(median(xs)), ctx.Err()
}

// childEnv is the environment of syncbench's own child processes: with --cpuprofile
// they write heap and goroutine profiles into the same directory on request.
func (r *runner) childEnv() []string {
	if r.opts.CPUProfileDir == "" {
		return nil
	}
	abs, err := filepath.Abs(r.opts.CPUProfileDir)
	if err != nil {
		return nil
	}
	return []string{"SYNCBENCH_PROFILE_DIR=" + abs}
}
