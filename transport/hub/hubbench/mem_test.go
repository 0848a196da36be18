package hubbench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/transport/hub"
)

// TestMain lets the test binary act as the measured hub server process: with
// HUBBENCH_SERVE=1 it starts the hub, prints its URL and a token, then answers "gc"
// lines on stdin with a full GC + FreeOSMemory and exits when stdin closes.
func TestMain(m *testing.M) {
	if os.Getenv("HUBBENCH_SERVE") == "1" {
		serve()
		return
	}
	os.Exit(m.Run())
}

func serve() {
	ctx := context.Background()
	hs, err := StartHub(ctx, 1, hub.Options{PerToken: 1 << 20})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	tok, err := hs.Token(ctx, 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(hs.URL, tok)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if p := os.Getenv("HUBBENCH_HEAPPROFILE"); p != "" {
			if f, err := os.Create(p); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		fmt.Printf("ok heap=%dKB stack=%dKB goroutines=%d sys=%dKB\n", ms.HeapInuse>>10, ms.StackInuse>>10, runtime.NumGoroutine(), ms.Sys>>10)
	}
	hs.Close()
}

func rssKB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

// TestIdleMemory measures the hub process's RSS per idle, authenticated, subscribed
// connection at SYNCSPACE_BENCH_CONNS (default 10,000) connections. Run with
// SYNCSPACE_BENCH=1.
func TestIdleMemory(t *testing.T) {
	if os.Getenv("SYNCSPACE_BENCH") == "" {
		t.Skip("set SYNCSPACE_BENCH=1")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("SYNCSPACE_BENCH_CONNS")); err == nil {
		n = v
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HUBBENCH_SERVE=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	rd := bufio.NewReader(stdout)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("server: %q", line)
	}
	url, tok := f[0], f[1]
	measure := func() int {
		fmt.Fprintln(stdin, "gc")
		st, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		t.Log(strings.TrimSpace(st))
		time.Sleep(500 * time.Millisecond)
		kb, err := rssKB(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		return kb
	}
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func(k int) {
		for i := 0; i < k; i++ {
			c, err := DialSubscriber(url, tok, fmt.Sprint("idle-", len(conns)), false)
			if err != nil {
				t.Fatalf("after %d connections: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
	}
	dial(200) // warm up: pools, maps, first allocations
	before := measure()
	dial(n - 200)
	time.Sleep(time.Second)
	after := measure()
	per := float64(after-before) * 1024 / float64(n-200)
	t.Logf("hub RSS: %d KB with 200 connections, %d KB with %d: %.0f bytes per idle subscribed connection", before, after, n, per)
}
