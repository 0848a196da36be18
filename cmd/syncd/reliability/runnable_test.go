package reliability

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// runnableEvery is how often a runnable watch samples the machine.
const runnableEvery = 50 * time.Millisecond

// runnable samples, while a probe runs, how many tasks the machine has runnable or in
// uninterruptible sleep (/proc/stat procs_running + procs_blocked: what the load
// average averages, but now). The 1-minute load average lags a sudden burst of other
// work (other packages' tests starting) by tens of seconds, in both directions.
type runnable struct {
	mu      sync.Mutex
	samples []int
	stop    chan struct{}
	done    chan struct{}
}

// watchRunnable starts sampling; nil when /proc/stat cannot be read (not Linux).
func watchRunnable() *runnable {
	if procsRunnable() < 0 {
		return nil
	}
	r := &runnable{stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *runnable) run() {
	defer close(r.done)
	tick := time.NewTicker(runnableEvery)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		if n := procsRunnable(); n >= 0 {
			r.mu.Lock()
			r.samples = append(r.samples, n)
			r.mu.Unlock()
		}
	}
}

// take returns the samples since the last take.
func (r *runnable) take() []int {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.samples
	r.samples = nil
	return s
}

func (r *runnable) close() {
	if r == nil {
		return
	}
	select {
	case <-r.stop:
	default:
		close(r.stop)
		<-r.done
	}
}

// procsRunnable returns procs_running + procs_blocked of /proc/stat, less the task
// reading it; -1 if unknown.
func procsRunnable() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	n, found := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var v int
		if _, err := fmt.Sscanf(sc.Text(), "procs_running %d", &v); err == nil {
			n, found = n+v-1, found+1
		} else if _, err := fmt.Sscanf(sc.Text(), "procs_blocked %d", &v); err == nil {
			n, found = n+v, found+1
		}
	}
	if found != 2 {
		return -1
	}
	return max(n, 0)
}

// windowLoad is the load of the machine over a probe window: the runnable count the
// machine was at or above for a tenth of the window (the 90th percentile of samples).
// The probe's p99 is set by its worst moments, so a burst of other work over a tenth
// of the window is enough to move it. Without samples (a window shorter than
// runnableEvery, or no /proc/stat) it is the 1-minute load average.
func windowLoad(samples []int) float64 {
	if len(samples) == 0 {
		return loadAverage()
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return float64(s[int(float64(len(s)-1)*0.9)])
}

// overloaded reports whether a window's load is over twice the CPUs: scheduling delay
// and not syncd then dominates the probe's latencies.
func overloaded(load float64) bool { return load > 2*float64(runtime.NumCPU()) }

// TestWindowLoad: a window's load is what the machine was at or above for a tenth of
// it, so that a burst of other work over that much of the window counts at once.
func TestWindowLoad(t *testing.T) {
	quiet := make([]int, 100)
	burst := slices.Clone(quiet)
	for i := 50; i < 61; i++ { // 11 % of the window
		burst[i] = 9
	}
	blip := slices.Clone(quiet)
	blip[10] = 40 // one sample: a blip, not a loaded window
	if got := windowLoad(burst); got != 9 {
		t.Errorf("burst over 11 %% of the window: load %v, want 9", got)
	}
	if got := windowLoad(blip); got != 0 {
		t.Errorf("one sample of 40: load %v, want 0", got)
	}
	if runtime.GOOS == "linux" && procsRunnable() < 0 {
		t.Errorf("/proc/stat has no procs_running/procs_blocked")
	}
}
