//go:build !windows

package clustertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
)

// privateRedis is a redis-server the test starts (and stops) itself on a fixed
// loopback port, so that stopping it touches no other test.
type privateRedis struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func (r *privateRedis) start(t *testing.T) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("private redis-server did not start")
		}
	}
}

func (r *privateRedis) stop() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// TestBusOutage: the nodes' Redis bus is killed while uploads go through nginx. Every
// event still reaches every subscriber (the nodes fill the gap from PostgreSQL within
// seconds), and after Redis is back, fan-out goes on with no gap or duplicate.
func TestBusOutage(t *testing.T) {
	needServices(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		if servicetest.Required() {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	r := &privateRedis{addr: freePort(t)}
	r.start(t)
	t.Cleanup(func() { r.stop() })
	c := startCluster(t, "redis://"+r.addr+"/0")
	writer, reader := c.tenant(t, "t"+servicetest.Name(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	subs := startSubscribers(ctx, t, c.proxy, reader, 3)
	seq := int64(0)
	upload := func(k int) {
		t.Helper()
		for i := 0; i < k; i++ {
			seq++
			st, err := put(ctx, "http://"+c.proxy, writer, fmt.Sprintf("f%03d.txt", seq), fmt.Sprint(seq))
			if err != nil || st != http.StatusCreated {
				t.Fatalf("upload %d: %d %v", seq, st, err)
			}
		}
	}
	phase := func(name string, k int) {
		t.Helper()
		start := time.Now()
		upload(k)
		uploaded := time.Now()
		// the gap fill runs about every second; 3 s leaves room for -race on a busy host
		if err := waitAll(subs, seq, 3*time.Second); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: %d uploads took %v; all subscribers had the last %v later", name, k,
			uploaded.Sub(start).Round(time.Millisecond), time.Since(uploaded).Round(time.Millisecond))
	}
	phase("bus up", 30)
	r.stop()
	phase("bus down", 30)
	r.start(t)
	time.Sleep(time.Second) // let the nodes reconnect (not required for correctness)
	phase("bus back", 30)
	cancel()
	for _, s := range subs {
		s.check(t, seq)
	}
}
