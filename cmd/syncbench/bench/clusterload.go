package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// seqSub is a subscriber of one tenant on one node (or through a load balancer): it
// resumes with since/epoch after a dropped socket and checks that it is sent every seq
// once, in order, counting what it received, skipped and received twice.
type seqSub struct {
	wsURL, token, id string
	// onEvent, when set, is called with each event's id ("ev-N" in its path).
	onEvent func(id int64, at time.Time)

	mu        sync.Mutex
	epoch     string
	last      int64 // the last seq received (the Ack's seq at the first subscribe)
	got       int64 // events received
	lost, dup int64
	drops     int
	dropAt    time.Time // the last drop
	resumedAt time.Time // the first Ack after the last drop
	err       string
	acked     chan struct{} // closed at the first Ack
}

func newSeqSub(base, token, id string) *seqSub {
	return &seqSub{wsURL: "ws" + strings.TrimPrefix(base, "http") + "/ws", token: token, id: id, acked: make(chan struct{})}
}

// run keeps a session open, resuming 50 ms after each drop, until ctx ends.
func (s *seqSub) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.drops++
		s.dropAt = time.Now()
		s.resumedAt = time.Time{}
		if s.err == "" && s.epoch == "" && err != nil {
			s.err = err.Error()
		}
		s.mu.Unlock()
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

// session dials, subscribes (from the last seq once one was received) and reads
// events until the socket fails or ctx ends.
func (s *seqSub) session(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, _, err := websocket.DefaultDialer.DialContext(dctx, s.wsURL, http.Header{"Authorization": {"Bearer " + s.token}})
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	sub := map[string]any{"type": "Subscribe", "client_id": s.id}
	s.mu.Lock()
	if s.epoch != "" {
		sub["since"], sub["epoch"] = s.last, s.epoch
	}
	s.mu.Unlock()
	if err := c.WriteJSON(sub); err != nil {
		return err
	}
	var ack struct {
		Type  string `json:"type"`
		Seq   int64  `json:"seq"`
		Epoch string `json:"epoch"`
	}
	if err := c.ReadJSON(&ack); err != nil {
		return err
	}
	if ack.Type != "Ack" {
		return fmt.Errorf("subscribe answered %s", ack.Type)
	}
	s.acknowledged(ack.Seq, ack.Epoch)
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return err
		}
		s.frame(b)
	}
}

// acknowledged records a subscribe's Ack.
func (s *seqSub) acknowledged(seq int64, epoch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.epoch == "":
		s.last = seq
		close(s.acked)
	case epoch != s.epoch:
		s.err = fmt.Sprintf("epoch changed from %s to %s", s.epoch, epoch)
	}
	s.epoch = epoch
	s.resumedAt = time.Now()
}

// frame checks one message: a FileOperation must carry the next seq.
func (s *seqSub) frame(b []byte) {
	var ev struct {
		Type string `json:"type"`
		Seq  int64  `json:"seq"`
	}
	if json.Unmarshal(b, &ev) != nil || ev.Type != "FileOperation" {
		return
	}
	now := time.Now()
	s.mu.Lock()
	s.got++
	switch {
	case ev.Seq <= s.last:
		s.dup++
	case ev.Seq > s.last+1:
		s.lost += ev.Seq - s.last - 1
		s.last = ev.Seq
	default:
		s.last = ev.Seq
	}
	s.mu.Unlock()
	if s.onEvent != nil {
		eventIDs(b, func(id int64) { s.onEvent(id, now) })
	}
}

// lastSeq is the last seq received.
func (s *seqSub) lastSeq() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// subSet is the subscribers of one measurement and their goroutines.
type subSet struct {
	subs   []*seqSub
	tenant []int // tenant index of each subscriber
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startSubs starts the subscribers and waits until each has its first Ack.
func startSubs(ctx context.Context, subs []*seqSub, tenant []int) (*subSet, error) {
	sctx, cancel := context.WithCancel(ctx)
	set := &subSet{subs: subs, tenant: tenant, cancel: cancel}
	for _, s := range subs {
		set.wg.Add(1)
		go func() { defer set.wg.Done(); s.run(sctx) }()
	}
	deadline := time.After(30 * time.Second)
	for _, s := range subs {
		select {
		case <-s.acked:
		case <-deadline:
			set.close()
			s.mu.Lock()
			defer s.mu.Unlock()
			return nil, fmt.Errorf("subscriber %s was never acknowledged: %s", s.id, s.err)
		case <-ctx.Done():
			set.close()
			return nil, ctx.Err()
		}
	}
	return set, nil
}

// close ends every subscriber.
func (set *subSet) close() {
	set.cancel()
	set.wg.Wait()
}

// delivery is what the subscribers of a measurement received, against the heads.
type delivery struct {
	want, got, lost, dup int64
	drops                int
}

func (d delivery) String() string {
	return fmt.Sprintf("delivered %d of %d events (%d lost, %d duplicated)", d.got, d.want, d.lost, d.dup)
}

// drain waits (up to timeout) until every subscriber has its tenant's head, then
// closes them and counts: a subscriber that stopped short lost the rest.
func (set *subSet) drain(heads []int64, base []int64, timeout time.Duration) delivery {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		done := true
		for i, s := range set.subs {
			if s.lastSeq() < heads[set.tenant[i]] {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	set.close()
	var d delivery
	for i, s := range set.subs {
		t := set.tenant[i]
		d.want += heads[t] - base[i]
		d.got += s.got
		d.lost += s.lost + max(heads[t]-s.last, 0)
		d.dup += s.dup
		d.drops += s.drops
	}
	return d
}

// bases returns the seq each subscriber started from (its first Ack).
func (set *subSet) bases() []int64 {
	out := make([]int64, len(set.subs))
	for i, s := range set.subs {
		out[i] = s.lastSeq()
	}
	return out
}

// loadGen uploads new 16-byte files ("PREFIX-ev-N.txt"), spreading upload N over the
// tenants (N mod tenants) and then over the nodes.
type loadGen struct {
	cl     *http.Client
	nodes  []string // base URLs
	tokens []string // per tenant
	prefix string
	// onStart and onAck, when set, are called before upload N is sent and when its
	// answer came.
	onStart, onAck func(n int64, at time.Time)

	next  atomic.Int64
	acked atomic.Int64
	errs  atomic.Int64
	mu    sync.Mutex
	heads []int64 // the highest seq acknowledged per tenant
	first error
}

// target returns the tenant and node of upload n.
func (g *loadGen) target(n int64) (tenant, node int) {
	nt := int64(len(g.tokens))
	return int(n % nt), int((n / nt) % int64(len(g.nodes)))
}

// run uploads with conc workers until ctx ends or d passes, paced at rate uploads per
// second when rate > 0 (as fast as answered otherwise). It returns the uploads
// acknowledged per second.
func (g *loadGen) run(ctx context.Context, conc int, d time.Duration, rate float64) float64 {
	g.mu.Lock()
	if g.heads == nil {
		g.heads = make([]int64, len(g.tokens))
	}
	g.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t0 := time.Now()
	before := g.acked.Load()
	var wg sync.WaitGroup
	var issued atomic.Int64
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rctx.Err() == nil {
				if rate > 0 {
					k := issued.Add(1) - 1
					sleepCtx(rctx, time.Until(t0.Add(time.Duration(float64(k)/rate*float64(time.Second)))))
					if rctx.Err() != nil {
						return
					}
				}
				g.one(ctx, g.next.Add(1)-1) // an upload under way finishes after d
			}
		}()
	}
	wg.Wait()
	return float64(g.acked.Load()-before) / time.Since(t0).Seconds()
}

// one sends upload n and records its seq.
func (g *loadGen) one(ctx context.Context, n int64) {
	t, node := g.target(n)
	if g.onStart != nil {
		g.onStart(n, time.Now())
	}
	body := fmt.Appendf(nil, "e%015d", n)
	url := fmt.Sprintf("%s/api/files/%s-ev-%d.txt", g.nodes[node], g.prefix, n)
	seq, err := putSeq(ctx, g.cl, url, g.tokens[t], body)
	if err != nil {
		if ctx.Err() == nil {
			g.errs.Add(1)
			g.mu.Lock()
			if g.first == nil {
				g.first = err
			}
			g.mu.Unlock()
		}
		return
	}
	if g.onAck != nil {
		g.onAck(n, time.Now())
	}
	g.acked.Add(1)
	g.mu.Lock()
	g.heads[t] = max(g.heads[t], seq)
	g.mu.Unlock()
}

// putSeq uploads body and returns the seq of the change it made.
func putSeq(ctx context.Context, cl *http.Client, url, token string, body []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytesReader(body))
	if err != nil {
		return 0, err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Sync-Client-Id", "syncbench")
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	// 200: the same content was there (a proxy retried a PUT whose first try committed)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("PUT %s: %d %s", hidePath(url), resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var meta struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Seq <= 0 {
		return 0, fmt.Errorf("PUT %s: no seq in %q", hidePath(url), b)
	}
	return meta.Seq, nil
}

// changesHead returns the tenant's head seq (GET /api/changes from since to the end).
func changesHead(ctx context.Context, cl *http.Client, base, token string, since int64) (int64, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/changes?since=%d&limit=10000", base, since), nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := cl.Do(req)
		if err != nil {
			return 0, err
		}
		var page struct {
			Seq  int64 `json:"seq"`
			More bool  `json:"more"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET /api/changes: %s", resp.Status)
		}
		if err != nil {
			return 0, err
		}
		if !page.More {
			return page.Seq, nil
		}
		since = page.Seq
	}
}

// settle returns the heads after a load: the seqs acknowledged, raised to what the log
// holds (an upload cut by the end of the run may have committed unacknowledged).
func (g *loadGen) settle(ctx context.Context) ([]int64, error) {
	g.mu.Lock()
	heads := append([]int64(nil), g.heads...)
	g.mu.Unlock()
	for t, tok := range g.tokens {
		h, err := changesHead(ctx, g.cl, g.nodes[0], tok, heads[t])
		if err != nil {
			return nil, err
		}
		heads[t] = max(heads[t], h)
	}
	return heads, nil
}

// errNote says how many uploads failed, with the first error.
func (g *loadGen) errNote() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.first == nil {
		return ""
	}
	return fmt.Sprintf("; %d uploads failed (first: %s)", g.errs.Load(), oneLine(g.first.Error()))
}

var errNoEvents = errors.New("no upload was acknowledged")
