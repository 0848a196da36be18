//go:build !windows

package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
)

// TestKillNodeUnderLoad: while uploads go through nginx, one node is killed with
// SIGKILL. Subscribers whose socket was on it resume through nginx (landing on another
// node) with since/epoch, and every subscriber ends with exactly every committed seq.
func TestKillNodeUnderLoad(t *testing.T) {
	needServices(t)
	c := startCluster(t, servicetest.Redis(t))
	writer, reader := c.tenant(t, "t"+servicetest.Name(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	subs := startSubscribers(ctx, t, c.proxy, reader, 6)
	const n = 150
	var ok atomic.Int64
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ { // four uploaders, so that the kill lands mid-request
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				if i == n/3 {
					c.nodes[1].kill(t)
				}
				// an upload on the killed node may fail yet have committed: the
				// subscribers must see exactly what the change log holds
				st, err := put(ctx, "http://"+c.proxy, writer, fmt.Sprintf("f%03d.txt", i), fmt.Sprint(i))
				if err == nil && st == http.StatusCreated {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() < n-5 {
		t.Fatalf("only %d of %d uploads succeeded through nginx after the kill", ok.Load(), n)
	}
	head := changesHead(ctx, t, "http://"+c.proxy, reader)
	if head < ok.Load() {
		t.Fatalf("change log head %d below %d acknowledged uploads", head, ok.Load())
	}
	if err := waitAll(subs, head, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d uploads (%d acknowledged, head %d) with a node killed, in %v", n, ok.Load(), head, time.Since(start))
	cancel()
	drops := 0
	for _, s := range subs {
		s.check(t, head)
		drops += s.drops
	}
	if drops == 0 {
		t.Errorf("no subscriber was on the killed node (nginx round robin should have put two there)")
	}
}
