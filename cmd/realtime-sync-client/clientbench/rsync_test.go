//go:build unix

package clientbench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rsyncDaemon serves src with an rsync daemon on loopback and times `rsync -a` of it
// into a new empty folder under workDir. It skips the test when rsync is missing.
// It returns the wall time and the CPU time (user+system) of the rsync client and
// daemon (with the daemon's per-connection child).
func rsyncDaemon(t *testing.T, ctx context.Context, workDir, src string) (wall, cpu time.Duration) {
	t.Helper()
	bin, err := exec.LookPath("rsync")
	if err != nil {
		t.Skip("rsync not installed (apt-get install -y rsync)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	rdir := filepath.Join(workDir, "rsyncd")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		t.Fatal(err)
	}
	ids := ""
	if os.Geteuid() == 0 {
		ids = "uid = root\ngid = root\n"
	}
	conf := fmt.Sprintf("port = %s\naddress = 127.0.0.1\nuse chroot = no\npid file = %s/rsyncd.pid\nlog file = %s/rsyncd.log\n%s[bench]\n  path = %s\n  read only = yes\n",
		port, rdir, rdir, ids, src)
	cfg := filepath.Join(rdir, "rsyncd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := exec.Command(bin, "--daemon", "--no-detach", "--config="+cfg)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	daemonDone := false
	defer func() {
		if !daemonDone {
			d.Process.Kill()
			d.Wait()
		}
	}()
	for i := 0; ; i++ {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if i > 200 {
			t.Fatal("rsync daemon did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
	dst, err := os.MkdirTemp(workDir, "rsync-dst-")
	if err != nil {
		t.Fatal(err)
	}
	c := exec.CommandContext(ctx, bin, "-a", "--exclude=/.syncspace", "rsync://"+addr+"/bench/", dst+"/")
	t0 := time.Now()
	out, err := c.CombinedOutput()
	wall = time.Since(t0)
	if err != nil {
		t.Fatalf("rsync: %v: %s", err, out)
	}
	// SIGTERM: the daemon reaps its connection child (whose CPU it then accounts).
	time.Sleep(100 * time.Millisecond)
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
	daemonDone = true
	return wall, c.ProcessState.UserTime() + c.ProcessState.SystemTime() + d.ProcessState.UserTime() + d.ProcessState.SystemTime()
}

// cpuTime is the CPU time (user+system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestInitialSyncVsRsync runs the initial-sync comparison in one process: the
// client's --once into an empty folder, then rsync -a of the same tree from an rsync
// daemon on loopback, alternating for several rounds (CLIENTBENCH_ROUNDS, default 1,
// 3 with CLIENTBENCH_FULL) so that both see the same state of a shared machine; the
// medians are compared. With CLIENTBENCH_FULL=1 (10,000 × 4 KiB) the target is a wall
// time of at most 1.5× rsync's.
func TestInitialSyncVsRsync(t *testing.T) {
	s := newServer(t)
	files, rounds := 300, 1
	if full() {
		files, rounds = 10000, 3
	}
	if v := os.Getenv("CLIENTBENCH_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	work := t.TempDir()
	tg := Target{Server: s.URL, Token: s.Token}
	seed, err := Seed(ctx, tg, work, files, 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeding %d × 4 KiB: %v", files, seed.Round(time.Millisecond))
	var ssWall, ssCPU, rsWall, rsCPU []time.Duration
	for r := 0; r < rounds; r++ {
		c0 := cpuTime()
		var took time.Duration
		// CLIENTBENCH_CPUPROFILE=FILE profiles the first round's initial sync alone
		// (client and the in-process server together).
		if pf := os.Getenv("CLIENTBENCH_CPUPROFILE"); pf != "" && r == 0 {
			f, ferr := os.Create(pf)
			if ferr != nil {
				t.Fatal(ferr)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
			took, err = SyncEmpty(ctx, tg, work, files)
			pprof.StopCPUProfile()
			f.Close()
		} else {
			took, err = SyncEmpty(ctx, tg, work, files)
		}
		cpu := cpuTime() - c0
		if err != nil {
			t.Fatal(err)
		}
		rw, rc := rsyncDaemon(t, ctx, work, filepath.Join(work, "init-src"))
		t.Logf("round %d: syncspace %v (CPU %v), rsync %v (CPU %v): %.2f×", r+1, took.Round(time.Millisecond), cpu.Round(time.Millisecond),
			rw.Round(time.Millisecond), rc.Round(time.Millisecond), took.Seconds()/rw.Seconds())
		ssWall, ssCPU, rsWall, rsCPU = append(ssWall, took), append(ssCPU, cpu), append(rsWall, rw), append(rsCPU, rc)
	}
	ratio := median(ssWall).Seconds() / median(rsWall).Seconds()
	t.Logf("initial sync of %d × 4 KiB, medians of %d rounds: syncspace %v, rsync daemon %v: %.2f× (target ≤ 1.5×)",
		files, rounds, median(ssWall).Round(time.Millisecond), median(rsWall).Round(time.Millisecond), ratio)
	// CPU time depends less on how busy the machine is: the client and the in-process
	// server against the rsync client and daemon.
	t.Logf("CPU medians: syncspace client+server %v, rsync client+daemon %v (%.2f×)",
		median(ssCPU).Round(time.Millisecond), median(rsCPU).Round(time.Millisecond), median(ssCPU).Seconds()/median(rsCPU).Seconds())
	if full() && ratio > 1.5 {
		t.Errorf("target missed: %.2f× rsync, want ≤ 1.5×", ratio)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
