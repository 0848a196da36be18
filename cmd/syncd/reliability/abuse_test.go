package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// probe keeps requesting another tenant's files (download, list, small upload) while
// an attack runs, recording latencies and unexpected answers.
type probe struct {
	a    *api
	lat  latencies
	errs atomic.Int64
	last atomic.Value // string: the last unexpected answer
	stop chan struct{}
	done chan struct{}
	// window is when the samples not yet reported began; rate is the probe's
	// requests per second without an attack (set by baseline).
	window time.Time
	rate   float64
	load   *runnable // the machine's runnable tasks, sampled per window
}

func startProbe(t *testing.T, s *server) *probe {
	t.Helper()
	s.tenant("victim", tenants.Options{})
	p := &probe{a: newAPI(s.base, s.token("victim", "probe", "write")), stop: make(chan struct{}), done: make(chan struct{})}
	if st, b, err := p.a.put(context.Background(), "probe.txt", []byte("probe content\n")); err != nil || st != http.StatusCreated {
		t.Fatalf("probe setup: %v %d %s", err, st, b)
	}
	p.window = time.Now()
	p.load = watchRunnable()
	go p.run()
	t.Cleanup(p.close)
	return p
}

// Baseline sizes: the probe's figures without an attack are taken over at least
// baselineSamples requests (at most baselineWait), up to baselineTries times.
const (
	baselineSamples = 30
	baselineWait    = 30 * time.Second
	baselineTries   = 3
)

// baseline measures the probe without an attack: its latencies and its rate, which
// the attacks' request counts are judged against. A loaded machine (CI runs every
// package's tests at once on 2 cores) slows every request, so it is measured over a
// number of requests rather than a fixed time, and a round over the bound is measured
// again (a burst of other work passes); only failed requests, or every round too slow
// or too short, fail it.
func (p *probe) baseline(t *testing.T) {
	t.Helper()
	p.take()
	var d []time.Duration
	var el time.Duration
	var load float64
	for try := 1; ; try++ {
		for deadline := time.Now().Add(baselineWait); p.lat.len() < baselineSamples && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		d, el, load = p.take()
		if n := p.errs.Swap(0); n > 0 {
			t.Errorf("probe: %d failed requests without an attack, last: %v", n, p.last.Load())
		}
		p99, bound := percentile(d, 0.99), probeBound(load)
		t.Logf("probe baseline, round %d    n=%5d in %v load=%4.1f p50=%8v p99=%8v max=%8v", try, len(d), el.Round(time.Millisecond), load, percentile(d, 0.5).Round(time.Microsecond), p99.Round(time.Microsecond), percentile(d, 1).Round(time.Microsecond))
		ok := len(d) >= 10 && p99 <= bound
		if ok || try == baselineTries {
			if len(d) < 10 {
				t.Errorf("probe: only %d requests in %v without an attack", len(d), el)
			}
			if p99 > bound {
				t.Errorf("probe p99 %v without an attack, want < %v (load %.1f)", p99, bound, load)
			}
			break
		}
	}
	if el > 0 {
		p.rate = float64(len(d)) / el.Seconds()
	}
}

// take returns the samples since the last take, how long they took to gather and the
// machine's load meanwhile (windowLoad).
func (p *probe) take() ([]time.Duration, time.Duration, float64) {
	d := p.lat.take()
	load := windowLoad(p.load.take())
	now := time.Now()
	el := now.Sub(p.window)
	p.window = now
	return d, el, load
}

func (p *probe) run() {
	defer close(p.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		var st int
		var body []byte
		var err error
		switch i % 3 {
		case 0:
			st, body, _, err = p.a.do(ctx, http.MethodGet, "/api/files/probe.txt", nil, nil)
		case 1:
			st, body, _, err = p.a.do(ctx, http.MethodGet, "/api/list?recursive=true", nil, nil)
		case 2:
			st, body, err = p.a.put(ctx, "probe.txt", fmt.Appendf(nil, "probe content %d\n", i))
		}
		cancel()
		p.lat.add(time.Since(start))
		if err != nil || st/100 != 2 {
			p.errs.Add(1)
			p.last.Store(fmt.Sprintf("%v %d %.200s", err, st, body))
		}
	}
}

func (p *probe) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
		<-p.done
		p.load.close()
		p.a.close()
	}
}

// report logs the probe's latencies since the last report and checks them. The probe
// must have made minCount requests, or, on a machine where even the baseline was
// slower than that, a tenth of what the baseline's rate gives for the attack's time
// (at least 3): an attack that stalls the other tenant still fails.
func (p *probe) report(t *testing.T, attack string, minCount int) {
	t.Helper()
	d, el, load := p.take()
	p99 := percentile(d, 0.99)
	t.Logf("probe during %-22s n=%5d in %v load=%4.1f p50=%8v p99=%8v max=%8v", attack, len(d), el.Round(time.Millisecond), load, percentile(d, 0.5).Round(time.Microsecond), p99.Round(time.Microsecond), percentile(d, 1).Round(time.Microsecond))
	if n := p.errs.Swap(0); n > 0 {
		t.Errorf("probe: %d failed requests during %s, last: %v", n, attack, p.last.Load())
	}
	if want := minProbeCount(minCount, p.rate, el); len(d) < want {
		t.Errorf("probe: only %d requests during %s (%v), want %d (baseline rate %.1f/s)", len(d), attack, el.Round(time.Millisecond), want, p.rate)
	}
	if bound := probeBound(load); p99 > bound {
		t.Errorf("probe p99 %v during %s, want < %v (load %.1f)", p99, attack, bound, load)
	}
}

// minProbeCount is the number of requests a probe at the baseline rate (per second)
// must make in el: minCount, or a tenth of what the rate gives if that is fewer (a
// loaded machine), but at least 3.
func minProbeCount(minCount int, rate float64, el time.Duration) int {
	if rate <= 0 {
		return minCount
	}
	if byRate := int(rate * el.Seconds() / 10); byRate < minCount {
		return max(byRate, 3)
	}
	return minCount
}

// probeBound is the p99 the probe must stay under: the SLO of 100 ms with
// -abuse-full; in the CI slice a generous 1 s (the logged figure is the measure). On a
// machine overloaded by other work during the window (load, windowLoad, over twice
// the CPUs), where scheduling delay and not syncd dominates, it is 5 s in both modes.
func probeBound(load float64) time.Duration {
	switch {
	case overloaded(load):
		return 5 * time.Second
	case *abuseFull:
		return 100 * time.Millisecond
	}
	return time.Second
}

// loadAverage is the 1-minute load average (0 if unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	_, _ = fmt.Sscan(string(b), &l)
	return l
}

// memWatch samples the heap in use while attacks run.
type memWatch struct {
	max  atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchMemory() *memWatch {
	m := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > m.max.Load() {
				m.max.Store(ms.HeapInuse)
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memWatch) close() uint64 {
	close(m.stop)
	<-m.done
	return m.max.Load()
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/ws" }

func dialWS(ctx context.Context, base, token string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{HandshakeTimeout: 20 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	return d.DialContext(ctx, wsURL(base), h)
}

// closeCodeOf returns the WebSocket close code of a read error (-1 if none).
func closeCodeOf(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// TestAbuse runs hostile clients against one syncd while a probe of another tenant
// measures latency: slowloris on HTTP headers and on the WebSocket upgrade,
// unauthenticated sockets, a burst of failed authentications, one token opening 1,000
// sockets, a Ping flood and a 10 GiB upload against a 1 GiB quota. It reports the
// probe's p50/p99 per attack and the peak heap, and checks that goroutines and memory
// come back afterwards.
func TestAbuse(t *testing.T) {
	// Attackers and the probe all dial from 127.0.0.1: the per-address connection cap
	// (which alone would refuse most of this attack, probe included) is lifted so that
	// the defences behind it are what this test measures.
	s := startServer(t, map[string]any{"limits": map[string]any{"ws_per_token": 16,
		"max_connections": 100000, "max_connections_per_ip": 100000}})
	streamQuota := int64(128 << 20)
	failedAuths := 2000
	slowConns := 200
	if *abuseFull {
		streamQuota, failedAuths, slowConns = 1<<30, 10000, 1000
	}
	s.tenant("attacker", tenants.Options{Quota: 1 << 30, MaxFileSize: 16 << 30})
	s.tenant("streamer", tenants.Options{Quota: streamQuota, MaxFileSize: 16 << 30})
	attackTok := s.token("attacker", "mallory", "write")
	streamTok := s.token("streamer", "mallory", "write")

	p := startProbe(t, s)
	p.baseline(t)
	runtime.GC()
	baseG := runtime.NumGoroutine()
	baseHeap := heapInuse()
	mem := watchMemory()

	t.Run("slowloris", func(t *testing.T) {
		abuseSlowloris(t, s, slowConns)
		p.report(t, "slowloris", 100)
	})
	t.Run("failed-auth", func(t *testing.T) {
		abuseFailedAuth(t, s, failedAuths)
		p.report(t, "failed authentications", 10)
	})
	t.Run("socket-flood", func(t *testing.T) {
		abuseSocketFlood(t, s, attackTok)
		p.report(t, "1000 sockets one token", 10)
	})
	t.Run("ping-flood", func(t *testing.T) {
		abusePingFlood(t, s, attackTok)
		p.report(t, "ping flood", 10)
	})
	t.Run("huge-upload", func(t *testing.T) {
		abuseHugeUpload(t, s, attackTok, streamTok, streamQuota)
		p.report(t, "10 GiB upload", 10)
	})
	maxHeap := mem.close()
	p.close()
	g := settleGoroutines(baseG+5, 20*time.Second)
	endHeap := heapInuse()
	t.Logf("heap in use: baseline %.1f MiB, peak %.1f MiB, after %.1f MiB; goroutines: baseline %d, after %d",
		mib(baseHeap), mib(maxHeap), mib(endHeap), baseG, g)
	if maxHeap > 768<<20 {
		t.Errorf("peak heap %.1f MiB: memory is not bounded", mib(maxHeap))
	}
	if g > baseG+5 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines did not return to baseline: %d > %d\n%s", g, baseG, buf[:n])
	}
	if endHeap > baseHeap+64<<20 {
		t.Errorf("heap did not return to baseline: %.1f MiB after, %.1f MiB before", mib(endHeap), mib(baseHeap))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// abuseSlowloris opens n connections that trickle HTTP request headers (half to
// /api/list, half a WebSocket upgrade) and n/2 upgraded sockets that never send Auth.
// The server must cut the first within its ReadHeaderTimeout (10 s) and close the
// second with 4001 within the Auth deadline (10 s).
func abuseSlowloris(t *testing.T, s *server, n int) {
	addr := strings.TrimPrefix(s.base, "http://")
	var wg sync.WaitGroup
	var cut, survived, dialFail atomic.Int64
	start := time.Now()
	stopAt := start.Add(25 * time.Second)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				dialFail.Add(1)
				return
			}
			defer c.Close()
			head := "GET /api/list HTTP/1.1\r\nHost: " + addr + "\r\n"
			if i%2 == 1 {
				head = "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
			}
			if _, err := c.Write([]byte(head)); err != nil {
				cut.Add(1)
				return
			}
			closed := make(chan struct{})
			go func() { // the server's answer (408 or nothing) then EOF
				_, _ = io.Copy(io.Discard, c)
				close(closed)
			}()
			tk := time.NewTicker(time.Second)
			defer tk.Stop()
			for j := 0; ; j++ {
				select {
				case <-closed:
					cut.Add(1)
					return
				case <-tk.C:
				}
				if time.Now().After(stopAt) {
					survived.Add(1)
					return
				}
				_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", j, j); err != nil {
					cut.Add(1)
					return
				}
			}
		}()
	}
	// Upgraded sockets that never authenticate.
	var authClosed, authOther atomic.Int64
	for range n / 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := dialWS(context.Background(), s.base, "")
			if err != nil {
				dialFail.Add(1)
				return
			}
			defer ws.Close()
			_ = ws.SetReadDeadline(stopAt)
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					if closeCodeOf(err) == protocol.CloseUnauthenticated {
						authClosed.Add(1)
					} else {
						authOther.Add(1)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	t.Logf("slowloris: %d header trickles cut, %d survived, %d unauthenticated sockets closed 4001 (%d otherwise), %d dial failures, in %v",
		cut.Load(), survived.Load(), authClosed.Load(), authOther.Load(), dialFail.Load(), el.Round(time.Millisecond))
	if survived.Load() > 0 {
		t.Errorf("%d slowloris connections were still open after 25 s (ReadHeaderTimeout is 10 s)", survived.Load())
	}
	if authOther.Load() > 0 || authClosed.Load() != int64(n/2)-min(dialFail.Load(), int64(n/2)) {
		t.Errorf("unauthenticated sockets: %d closed with 4001, %d otherwise", authClosed.Load(), authOther.Load())
	}
	if dialFail.Load() > 0 {
		t.Errorf("%d connections could not even be opened", dialFail.Load())
	}
}

// abuseFailedAuth sends n requests with bad tokens (garbage, a forged signature, a
// token of another server, an ops-audience shape, a token over 4 KiB, query tokens)
// to /api and /ws. Every answer must be 401, 400 or 429 with Retry-After (on /ws: an
// upgrade closed at once with 4001); never 2xx, never 5xx.
func abuseFailedAuth(t *testing.T, s *server, n int) {
	valid := s.token("attacker", "eve", "read")
	parts := strings.Split(valid, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	if sig[5] == '.' {
		sig[5] = 'A'
	}
	forged := parts[0] + "." + parts[1] + "." + string(sig)
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "A." + parts[2]
	bad := []string{
		"garbage",
		forged,
		tampered,
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.", // alg none
		strings.Repeat("A", 5000),
		parts[0] + "." + parts[1], // two segments
	}
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var unexpected []string
	var missingRetry atomic.Int64
	jobs := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				tok := bad[i%len(bad)]
				path := "/api/list"
				switch i % 10 {
				case 7:
					path = "/ws"
				case 8:
					path = "/api/list?access_token=" + tok
					tok = ""
				case 9:
					path = "/api/files/x.txt"
				}
				req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				if path == "/ws" {
					req.Header.Set("Connection", "Upgrade")
					req.Header.Set("Upgrade", "websocket")
					req.Header.Set("Sec-WebSocket-Version", "13")
					req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
				}
				resp, err := hc.Do(req)
				mu.Lock()
				if err != nil {
					unexpected = append(unexpected, fmt.Sprintf("%s: %v", path, err))
					mu.Unlock()
					continue
				}
				statuses[resp.StatusCode]++
				switch resp.StatusCode {
				case http.StatusSwitchingProtocols:
					// A bad token on the upgrade: upgraded, then one close frame 4001.
					b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
					if path != "/ws" || len(b) < 4 || b[0] != 0x88 || int(b[2])<<8|int(b[3]) != 4001 {
						unexpected = append(unexpected, fmt.Sprintf("%s: 101 then % x", path, b))
					}
				case http.StatusUnauthorized, http.StatusBadRequest:
				case http.StatusTooManyRequests:
					if resp.Header.Get("Retry-After") == "" {
						missingRetry.Add(1)
					}
				default:
					unexpected = append(unexpected, fmt.Sprintf("%s: %d", path, resp.StatusCode))
				}
				mu.Unlock()
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	start := time.Now()
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("failed authentications: %d in %v, statuses %v", n, time.Since(start).Round(time.Millisecond), statuses)
	if len(unexpected) > 0 {
		t.Errorf("%d unexpected answers, e.g. %v", len(unexpected), unexpected[:min(5, len(unexpected))])
	}
	if missingRetry.Load() > 0 {
		t.Errorf("%d answers 429 without Retry-After", missingRetry.Load())
	}
	if statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("no 429 after %d failed authentications from one address", n)
	}
	// A token that verifies is never refused by the limiter, even from this address.
	a := newAPI(s.base, valid)
	defer a.close()
	if st, b, _, err := a.do(context.Background(), http.MethodGet, "/api/list", nil, nil); err != nil || st != http.StatusOK {
		t.Errorf("a valid token from the rate-limited address: %v %d %s", err, st, b)
	}
}

// abuseSocketFlood has one token open 1,000 sockets: exactly ws_per_token (16) are
// accepted, the others get 429 before the upgrade; closing them frees the slots.
func abuseSocketFlood(t *testing.T, s *server, tok string) {
	const n, limit = 1000, 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []*websocket.Conn
	statuses := map[int]int{}
	var other []string
	sem := make(chan struct{}, 50)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, resp, err := dialWS(context.Background(), s.base, tok)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				open = append(open, ws)
				statuses[101]++
			case resp != nil:
				statuses[resp.StatusCode]++
				if resp.StatusCode != http.StatusTooManyRequests {
					other = append(other, fmt.Sprint(resp.StatusCode))
				}
			default:
				other = append(other, err.Error())
			}
		}()
	}
	wg.Wait()
	// Upgrades racing for the last slots may be accepted and then closed with 1008:
	// count the sockets that really live (answer a Ping).
	live, closed1008 := 0, 0
	for _, c := range open {
		_ = c.WriteJSON(map[string]string{"type": "Ping"})
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ReadMessage()
		switch {
		case err == nil && strings.Contains(string(b), `"Pong"`):
			live++
		case closeCodeOf(err) == protocol.ClosePolicyViolation:
			closed1008++
		default:
			other = append(other, fmt.Sprintf("socket: %v %s", err, b))
		}
	}
	t.Logf("socket flood: %d dials with one token: %v; %d live, %d upgraded then closed 1008", n, statuses, live, closed1008)
	if live != limit {
		t.Errorf("%d sockets live, want exactly ws_per_token = %d", live, limit)
	}
	if len(other) > 0 {
		t.Errorf("unexpected dial results: %v", other[:min(5, len(other))])
	}
	// Beyond the cap also through the Auth frame: the socket is closed with 1008.
	ws, _, err := dialWS(context.Background(), s.base, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.WriteJSON(map[string]string{"type": "Auth", "token": tok})
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if c := closeCodeOf(err); c != protocol.ClosePolicyViolation {
				t.Errorf("Auth frame beyond the cap: close %d (%v), want 1008", c, err)
			}
			break
		}
	}
	ws.Close()
	for _, c := range open {
		c.Close()
	}
	ok := waitUntil(10*time.Second, func() bool {
		c, _, err := dialWS(context.Background(), s.base, tok)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if !ok {
		t.Errorf("the token's slots were not freed after its sockets closed")
	}
}

// abusePingFlood sends Ping frames as fast as possible: past 100/s (burst 200) the
// server closes with 1008, having answered at most about burst + rate × time Pongs.
func abusePingFlood(t *testing.T, s *server, tok string) {
	ws, _, err := dialWS(context.Background(), s.base, tok)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var pongs atomic.Int64
	code := make(chan int, 1)
	go func() {
		_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				code <- closeCodeOf(err)
				return
			}
			if strings.Contains(string(b), `"Pong"`) {
				pongs.Add(1)
			}
		}
	}()
	// Under the rate (50/s for 2 s): every Ping gets its Pong, nothing is closed.
	ping := []byte(`{"type":"Ping"}`)
	for i := 0; i < 100; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, ping); err != nil {
			t.Fatalf("paced ping %d: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !waitUntil(5*time.Second, func() bool { return pongs.Load() == 100 }) {
		t.Errorf("paced pings: %d pongs for 100 pings", pongs.Load())
	}
	select {
	case c := <-code:
		t.Fatalf("closed (%d) under the message rate", c)
	default:
	}
	start := time.Now()
	pongs.Store(0)
	sent := 0
	for ; sent < 5000; sent++ {
		_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, ping); err != nil {
			break
		}
	}
	var c int
	select {
	case c = <-code:
	case <-time.After(25 * time.Second):
		t.Fatal("ping flood: connection still open after 25 s")
	}
	el := time.Since(start)
	t.Logf("ping flood: sent %d pings, got %d pongs, closed %d after %v", sent, pongs.Load(), c, el.Round(time.Millisecond))
	if c != protocol.ClosePolicyViolation {
		t.Errorf("ping flood closed with %d, want 1008", c)
	}
	if max := 200 + int64(100*el.Seconds()) + 20; pongs.Load() > max {
		t.Errorf("%d pongs in %v: more than the rate allows (%d)", pongs.Load(), el, max)
	}
}

// genReader streams a pattern without holding it: at most limit bytes, counting them.
type genReader struct {
	limit int64
	n     atomic.Int64
}

func (g *genReader) Read(p []byte) (int, error) {
	left := g.limit - g.n.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	for i := range p {
		p[i] = byte(i)
	}
	g.n.Add(int64(len(p)))
	return len(p), nil
}

// abuseHugeUpload sends 10 GiB uploads against a 1 GiB quota: with Content-Length
// (refused before the body; with Expect: 100-continue not a byte is sent) and chunked
// (refused once the quota is reached). Nothing is kept: no file, no usage, no temp file.
func abuseHugeUpload(t *testing.T, s *server, tok, streamTok string, streamQuota int64) {
	const huge = 10 << 30
	send := func(token, path string, length int64, expect bool) (int, []byte, int64, time.Duration) {
		g := &genReader{limit: huge}
		req, _ := http.NewRequest(http.MethodPut, s.base+"/api/files/"+path, io.NopCloser(g))
		req.ContentLength = length
		req.Header.Set("Authorization", "Bearer "+token)
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
		hc := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
		defer hc.CloseIdleConnections()
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("PUT %s: %v (after %d bytes)", path, err, g.n.Load())
			return 0, nil, g.n.Load(), time.Since(start)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, b, g.n.Load(), time.Since(start)
	}
	check := func(name string, st int, b []byte, sent, maxSent int64, el time.Duration, wantCodes ...protocol.Code) {
		var e struct {
			Error struct {
				Code protocol.Code `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		t.Logf("%s: %d %s after %.1f MiB sent, %v", name, st, e.Error.Code, float64(sent)/(1<<20), el.Round(time.Millisecond))
		if st != http.StatusRequestEntityTooLarge || !contains(wantCodes, e.Error.Code) {
			t.Errorf("%s: %d %s, want 413 %v", name, st, b, wantCodes)
		}
		if sent > maxSent {
			t.Errorf("%s: the server read %d bytes before refusing, want ≤ %d", name, sent, maxSent)
		}
	}
	st, b, sent, el := send(tok, "huge-expect.bin", huge, true)
	check("10 GiB, Content-Length, Expect: 100-continue", st, b, sent, 0, el, protocol.CodeQuotaExceeded)
	st, b, sent, el = send(tok, "huge-length.bin", huge, false)
	check("10 GiB, Content-Length", st, b, sent, 64<<20, el, protocol.CodeQuotaExceeded)
	st, b, sent, el = send(streamTok, "huge-chunked.bin", -1, false)
	check(fmt.Sprintf("10 GiB chunked, quota %d MiB", streamQuota>>20), st, b, sent, streamQuota+64<<20, el, protocol.CodeQuotaExceeded)

	// Nothing kept.
	for _, tc := range []struct{ tenant, tok string }{{"attacker", tok}, {"streamer", streamTok}} {
		a := newAPI(s.base, tc.tok)
		l, err := a.list(context.Background())
		if err != nil || len(l.Entries) != 0 {
			t.Errorf("%s after refused uploads: %v, entries %v", tc.tenant, err, l.Entries)
		}
		_, ub, _, _ := a.do(context.Background(), http.MethodGet, "/api/usage", nil, nil)
		var u protocol.Usage
		_ = json.Unmarshal(ub, &u)
		if u.Used != 0 {
			t.Errorf("%s usage after refused uploads: %s", tc.tenant, ub)
		}
		a.close()
		tmp := filepath.Join(s.d.Config().DataDir, "tenants", tc.tenant, "tmp")
		if !waitUntil(5*time.Second, func() bool { n, _ := dirSize(tmp); return n == 0 }) {
			n, _ := dirSize(tmp)
			t.Errorf("%s: %d bytes left in %s after refused uploads", tc.tenant, n, tmp)
		}
	}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// dirSize sums the sizes of the regular files under dir (0 if it does not exist).
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
