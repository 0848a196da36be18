package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// swarmEnv names the file holding a swarmSpec: set, TestLoadSwarm acts as the load
// generator process of TestLoad.
const swarmEnv = "SYNCSPACE_RELIABILITY_SWARM"

// swarmSpec is what the load generator process is told.
type swarmSpec struct {
	Base        string        `json:"base"`
	Tenants     []swarmTenant `json:"tenants"`
	Subscribers int           `json:"subscribers"`
	Uploaders   int           `json:"uploaders"`
	Duration    time.Duration `json:"duration"`
}

type swarmTenant struct {
	Name, Read, Write string
}

// swarmResult is the load generator's report (the last line of its stdout).
type swarmResult struct {
	Connected     int      `json:"connected"`
	DialTime      string   `json:"dial_time"`
	Uploads       int64    `json:"uploads"`
	UploadP50     string   `json:"upload_p50"`
	UploadP99     string   `json:"upload_p99"`
	EventsWanted  int64    `json:"events_wanted"`
	EventsGot     int64    `json:"events_got"`
	Errors        []string `json:"errors"`
	ErrorCount    int      `json:"error_count"`
	ResultMarker  string   `json:"result_marker"`
	HeadsFinished bool     `json:"heads_finished"`
}

const resultMarker = "swarm-result-v1"

// TestLoad runs N WebSocket subscribers over 50 tenants plus 20 concurrent uploaders
// against one in-process syncd; the clients live in a separate process (this test
// binary re-executed as TestLoadSwarm) so that the goroutines and heap measured here
// are the server's. Every subscriber must receive every event of its tenant exactly
// once and in order, no upload may fail, and goroutines and heap must return to their
// baseline afterwards. CI: 1,000 subscribers for 30 s. -load=5m: 10,000 subscribers
// (needs a build without -race, whose detector caps a process at 8,128 goroutines).
func TestLoad(t *testing.T) {
	if os.Getenv(swarmEnv) != "" {
		t.Skip("inside the load generator process")
	}
	subs, dur := 1000, 30*time.Second
	if *loadFor > 0 {
		if raceEnabled {
			t.Skip("-load needs a build without -race: the race detector caps a process at 8128 goroutines")
		}
		subs, dur = 10000, *loadFor
	}
	if limit, ok := raiseFDLimit(); ok && limit < uint64(subs)+1000 {
		t.Skipf("RLIMIT_NOFILE %d is too low for %d subscribers", limit, subs)
	}
	// Every subscriber dials from 127.0.0.1: lift the per-address connection cap.
	s := startServer(t, map[string]any{"limits": map[string]any{"ws_per_token": 1024, "ws_send_queue": 256,
		"max_connections": subs + 2000, "max_connections_per_ip": subs + 2000}})
	spec := swarmSpec{Base: s.base, Subscribers: subs, Uploaders: 20, Duration: dur}
	ctx := context.Background()
	for i := range 50 {
		name := fmt.Sprintf("load-%02d", i)
		s.tenant(name, tenants.Options{})
		spec.Tenants = append(spec.Tenants, swarmTenant{Name: name, Read: s.token(name, "sub", "read"), Write: s.token(name, "up", "write")})
	}
	// Warm up: open every tenant's space and hub once, so that the baseline holds the
	// long-lived parts (spaces, watchers, caches) and not the per-connection ones.
	for _, tn := range spec.Tenants {
		a := newAPI(s.base, tn.Write)
		if st, b, err := a.put(ctx, "warmup.txt", []byte("warm "+tn.Name)); err != nil || st/100 != 2 {
			t.Fatalf("warm-up upload: %v %d %s", err, st, b)
		}
		a.close()
		ws, _, err := dialWS(ctx, s.base, tn.Read)
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "warmup"})
		_, _, _ = ws.ReadMessage()
		ws.Close()
	}
	time.Sleep(time.Second)
	baseG := settleGoroutines(0, 0)
	baseHeap := heapInuse()

	specFile := filepath.Join(t.TempDir(), "swarm.json")
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(specFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestLoadSwarm$", "-test.v", "-test.timeout="+(dur+5*time.Minute).String())
	cmd.Env = append(os.Environ(), swarmEnv+"="+specFile)
	var out, errOut logBuf
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	// Sample the server while the load runs.
	var peakG int
	var peakHeap uint64
	tk := time.NewTicker(time.Second)
	var werr error
loop:
	for {
		select {
		case werr = <-waited:
			break loop
		case <-tk.C:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakG = max(peakG, runtime.NumGoroutine())
			peakHeap = max(peakHeap, ms.HeapInuse)
		}
	}
	tk.Stop()
	if werr != nil {
		t.Fatalf("load generator: %v\nstdout:\n%s\nstderr:\n%s", werr, tail(out.String(), 60), tail(errOut.String(), 30))
	}
	var res swarmResult
	for _, line := range strings.Split(out.String(), "\n") {
		if i := strings.Index(line, "{"); i >= 0 && strings.Contains(line, resultMarker) {
			if err := json.Unmarshal([]byte(line[i:]), &res); err != nil {
				t.Fatalf("load generator result: %v: %s", err, line)
			}
		}
	}
	if res.ResultMarker != resultMarker {
		t.Fatalf("no result from the load generator:\n%s", tail(out.String(), 60))
	}
	g := settleGoroutines(baseG+10, 30*time.Second)
	endHeap := heapInuse()
	t.Logf("load: %d subscribers over %d tenants (dialled in %s), %d uploaders for %v: %d uploads (p50 %s, p99 %s), %d/%d events delivered",
		res.Connected, len(spec.Tenants), res.DialTime, spec.Uploaders, dur, res.Uploads, res.UploadP50, res.UploadP99, res.EventsGot, res.EventsWanted)
	t.Logf("server: goroutines baseline %d, peak %d, after %d; heap in use baseline %.1f MiB, peak %.1f MiB (%.1f KiB per subscriber), after %.1f MiB",
		baseG, peakG, g, mib(baseHeap), mib(peakHeap), float64(peakHeap-min(baseHeap, peakHeap))/1024/float64(max(res.Connected, 1)), mib(endHeap))
	if res.ErrorCount > 0 {
		t.Errorf("%d unexpected errors in the load generator, e.g.:\n%s", res.ErrorCount, strings.Join(res.Errors, "\n"))
	}
	if res.Connected != subs {
		t.Errorf("%d of %d subscribers connected", res.Connected, subs)
	}
	if res.EventsGot != res.EventsWanted || res.EventsWanted == 0 {
		t.Errorf("events delivered %d, wanted %d", res.EventsGot, res.EventsWanted)
	}
	if g > baseG+10 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines did not return to baseline: %d > %d\n%s", g, baseG, tail(string(buf[:n]), 80))
	}
	if endHeap > baseHeap+32<<20 {
		t.Errorf("heap did not return to baseline: %.1f MiB after, %.1f MiB before", mib(endHeap), mib(baseHeap))
	}
}

// TestLoadSwarm is TestLoad's load generator; it runs only in the process TestLoad
// starts (environment variable swarmEnv set).
func TestLoadSwarm(t *testing.T) {
	path := os.Getenv(swarmEnv)
	if path == "" {
		t.Skip("runs only as TestLoad's load generator process")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec swarmSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	res := runSwarm(spec)
	res.ResultMarker = resultMarker
	out, _ := json.Marshal(res)
	fmt.Printf("\n%s\n", out)
}

// swarmSub is one subscriber of the load generator.
type swarmSub struct {
	tenant int
	ws     *websocket.Conn
	ackSeq int64
	last   atomic.Int64 // seq of the last event received
	count  atomic.Int64
	done   chan struct{}
}

type errList struct {
	mu   sync.Mutex
	n    int
	list []string
}

func (e *errList) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.list) < 20 {
		e.list = append(e.list, fmt.Sprintf(format, args...))
	}
}

func runSwarm(spec swarmSpec) swarmResult {
	var errs errList
	ctx := context.Background()
	subs := make([]*swarmSub, spec.Subscribers)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var closing atomic.Bool
	for i := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sb := &swarmSub{tenant: i % len(spec.Tenants), done: make(chan struct{})}
			tn := spec.Tenants[sb.tenant]
			var ws *websocket.Conn
			var err error
			for attempt := 0; attempt < 3; attempt++ {
				if ws, _, err = dialWS(ctx, spec.Base, tn.Read); err == nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if err != nil {
				errs.add("dial %d: %v", i, err)
				return
			}
			sb.ws = ws
			if err := ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": fmt.Sprintf("sub-%d", i)}); err != nil {
				errs.add("subscribe %d: %v", i, err)
				return
			}
			_ = ws.SetReadDeadline(time.Now().Add(60 * time.Second))
			var ack protocol.Message
			if err := ws.ReadJSON(&ack); err != nil || ack.Type != protocol.TypeAck {
				errs.add("ack %d: %v %+v", i, err, ack)
				return
			}
			sb.ackSeq = ack.Seq
			sb.last.Store(ack.Seq)
			_ = ws.SetReadDeadline(time.Time{})
			subs[i] = sb
			go func() {
				defer close(sb.done)
				for {
					_, data, err := ws.ReadMessage()
					if err != nil {
						if !closing.Load() {
							errs.add("subscriber %d closed: %v", i, err)
						}
						return
					}
					var m protocol.Message
					if err := json.Unmarshal(data, &m); err != nil {
						errs.add("subscriber %d: bad frame %.100s", i, data)
						continue
					}
					if m.Type != protocol.TypeFileOperation {
						if m.Type != protocol.TypePong {
							errs.add("subscriber %d: unexpected %s", i, data)
						}
						continue
					}
					if prev := sb.last.Swap(m.Seq); m.Seq != prev+1 {
						errs.add("subscriber %d (tenant %s): seq %d after %d", i, tn.Name, m.Seq, prev)
					}
					sb.count.Add(1)
				}
			}()
		}()
	}
	wg.Wait()
	dial := time.Since(start)
	connected := 0
	for _, sb := range subs {
		if sb != nil {
			connected++
		}
	}

	// Uploaders.
	var uploads atomic.Int64
	var lat latencies
	stopAt := time.Now().Add(spec.Duration)
	var uw sync.WaitGroup
	for u := range spec.Uploaders {
		uw.Add(1)
		go func() {
			defer uw.Done()
			r := rand.New(rand.NewPCG(uint64(u), 99))
			apis := map[int]*api{}
			defer func() {
				for _, a := range apis {
					a.close()
				}
			}()
			for n := 0; time.Now().Before(stopAt); n++ {
				ti := r.IntN(len(spec.Tenants))
				a := apis[ti]
				if a == nil {
					a = newAPI(spec.Base, spec.Tenants[ti].Write)
					apis[ti] = a
				}
				content := fmt.Appendf(nil, "uploader %d upload %d %x", u, n, r.Uint64())
				t0 := time.Now()
				st, body, err := a.put(ctx, fmt.Sprintf("u%d/f%d.txt", u, r.IntN(20)), content)
				lat.add(time.Since(t0))
				if err != nil || st/100 != 2 {
					errs.add("upload: %v %d %.200s", err, st, body)
					continue
				}
				uploads.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	uw.Wait()

	// Every subscriber must reach its tenant's head.
	heads := make([]int64, len(spec.Tenants))
	for i, tn := range spec.Tenants {
		a := newAPI(spec.Base, tn.Read)
		l, err := a.list(ctx)
		a.close()
		if err != nil {
			errs.add("head of %s: %v", tn.Name, err)
			continue
		}
		heads[i] = l.Seq
	}
	var wanted, got int64
	finished := waitUntil(60*time.Second, func() bool {
		for _, sb := range subs {
			if sb != nil && sb.last.Load() < heads[sb.tenant] {
				return false
			}
		}
		return true
	})
	closing.Store(true)
	for _, sb := range subs {
		if sb == nil {
			continue
		}
		wanted += heads[sb.tenant] - sb.ackSeq
		got += sb.count.Load()
		if sb.last.Load() != heads[sb.tenant] {
			errs.add("subscriber of %s ended at seq %d, head %d", spec.Tenants[sb.tenant].Name, sb.last.Load(), heads[sb.tenant])
		}
		_ = sb.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		sb.ws.Close()
		<-sb.done
	}
	d := lat.take()
	errs.mu.Lock()
	defer errs.mu.Unlock()
	return swarmResult{
		Connected: connected, DialTime: dial.Round(time.Millisecond).String(),
		Uploads: uploads.Load(), UploadP50: percentile(d, 0.5).Round(time.Microsecond).String(), UploadP99: percentile(d, 0.99).Round(time.Microsecond).String(),
		EventsWanted: wanted, EventsGot: got, Errors: slices.Clone(errs.list), ErrorCount: errs.n, HeadsFinished: finished,
	}
}
