//go:build !windows

package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/config/servicetest"
)

// put uploads body to path through base and returns the HTTP status.
func put(ctx context.Context, base, token, path, body string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/api/files/"+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// subscriber is a gorilla WebSocket client that resumes with since/epoch after a
// dropped socket and records every FileOperation seq it is sent.
type subscriber struct {
	proxy, token, id string

	mu     sync.Mutex
	seqs   []int64
	epoch  string
	drops  int
	closes map[int]int // close codes of dropped sessions, counted
	errMsg string
}

func (s *subscriber) last() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seqs) == 0 {
		return 0
	}
	return s.seqs[len(s.seqs)-1]
}

// session dials through nginx, subscribes from the last seq seen and reads events
// until the socket fails or ctx ends.
func (s *subscriber) session(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ws, _, err := websocket.DefaultDialer.DialContext(dctx, "ws://"+s.proxy+"/ws", http.Header{"Authorization": {"Bearer " + s.token}})
	cancel()
	if err != nil {
		return err
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	sub := map[string]any{"type": "Subscribe", "client_id": s.id}
	s.mu.Lock()
	if s.epoch != "" {
		sub["since"], sub["epoch"] = s.lastLocked(), s.epoch
	}
	s.mu.Unlock()
	if err := ws.WriteJSON(sub); err != nil {
		return err
	}
	var ack struct {
		Type  string `json:"type"`
		Epoch string `json:"epoch"`
	}
	if err := ws.ReadJSON(&ack); err != nil {
		return err
	}
	if ack.Type != "Ack" {
		return fmt.Errorf("subscribe answered %+v", ack)
	}
	s.mu.Lock()
	if s.epoch != "" && ack.Epoch != s.epoch {
		s.errMsg = fmt.Sprintf("epoch changed from %s to %s", s.epoch, ack.Epoch)
	}
	s.epoch = ack.Epoch
	s.mu.Unlock()
	for {
		var ev struct {
			Type string `json:"type"`
			Seq  int64  `json:"seq"`
		}
		if err := ws.ReadJSON(&ev); err != nil {
			return err
		}
		if ev.Type == "FileOperation" {
			s.mu.Lock()
			s.seqs = append(s.seqs, ev.Seq)
			s.mu.Unlock()
		}
	}
}

func (s *subscriber) lastLocked() int64 {
	if len(s.seqs) == 0 {
		return 0
	}
	return s.seqs[len(s.seqs)-1]
}

// run keeps a session open (resuming after each drop) until ctx ends.
func (s *subscriber) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.session(ctx) // a dropped socket is expected; the resume is what is checked
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.drops++
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if s.closes == nil {
				s.closes = map[int]int{}
			}
			s.closes[ce.Code]++
		}
		s.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

// check fails t unless s saw exactly 1..n, in order.
func (s *subscriber) check(t *testing.T, n int64) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errMsg != "" {
		t.Errorf("%s: %s", s.id, s.errMsg)
	}
	if int64(len(s.seqs)) != n {
		t.Errorf("%s saw %d events, want %d (drops %d)", s.id, len(s.seqs), n, s.drops)
	}
	for i, q := range s.seqs {
		if q != int64(i)+1 {
			t.Errorf("%s: event %d has seq %d (gap or duplicate); seqs %v", s.id, i, q, s.seqs)
			return
		}
	}
}

// waitAll waits until every subscriber has seen seq n, or the deadline.
func waitAll(subs []*subscriber, n int64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		done := true
		for _, s := range subs {
			if s.last() < n {
				done = false
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, s := range subs {
				fmt.Fprintf(&b, " %s at %d;", s.id, s.last())
			}
			return errors.New("subscribers did not reach seq " + fmt.Sprint(n) + ":" + b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startSubscribers starts n resuming subscribers through nginx and waits until each
// has been acknowledged once.
func startSubscribers(ctx context.Context, t *testing.T, proxy, token string, n int) []*subscriber {
	t.Helper()
	var subs []*subscriber
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		s := &subscriber{proxy: proxy, token: token, id: fmt.Sprintf("sub%d", i)}
		subs = append(subs, s)
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	t.Cleanup(wg.Wait)
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range subs {
		for {
			s.mu.Lock()
			ok := s.epoch != ""
			s.mu.Unlock()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was never acknowledged", s.id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return subs
}

// TestFanOutThroughNginx: 200 uploads through nginx (round robin over three nodes)
// reach three subscribers connected through nginx, every seq once and in order.
func TestFanOutThroughNginx(t *testing.T) {
	needServices(t)
	c := startCluster(t, servicetest.Redis(t))
	writer, reader := c.tenant(t, "t"+servicetest.Name(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	subs := startSubscribers(ctx, t, c.proxy, reader, 3)
	const n = 200
	start := time.Now()
	for i := 0; i < n; i++ {
		st, err := put(ctx, "http://"+c.proxy, writer, fmt.Sprintf("f%03d.txt", i), fmt.Sprint(i))
		if err != nil || st != http.StatusCreated {
			t.Fatalf("upload %d: %d %v", i, st, err)
		}
	}
	if err := waitAll(subs, n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d uploads fanned out to %d subscribers in %v", n, len(subs), time.Since(start))
	cancel()
	for _, s := range subs {
		s.check(t, n)
	}
}

// changesHead returns the tenant's latest seq from GET /api/changes through base.
func changesHead(ctx context.Context, t *testing.T, base, token string) int64 {
	t.Helper()
	var page struct {
		Seq int64 `json:"seq"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/changes?since=0&limit=10000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/changes: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.Seq
}
