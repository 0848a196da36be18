package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// goal is one check of a row's target.
type goal struct {
	desc string
	ok   func(ss, peer, ratio float64) bool
}

// ratioAtLeast: syncspace / peer ≥ x (higher is better).
func ratioAtLeast(x float64) goal {
	return goal{fmt.Sprintf("≥ %g×", x), func(_, _, r float64) bool { return r >= x }}
}

// ratioAtMost: syncspace / peer ≤ x (lower is better).
func ratioAtMost(x float64) goal {
	return goal{fmt.Sprintf("≤ %g×", x), func(_, _, r float64) bool { return r > 0 && r <= x }}
}

// valueAtMost: syncspace's own figure ≤ v.
func valueAtMost(v float64, unit string) goal {
	return goal{fmt.Sprintf("≤ %g %s", v, unit), func(ss, _, _ float64) bool { return ss <= v }}
}

// row builds a result and judges it. Ratio goals need a peer figure; without goals
// the row is informational.
func row(scen, metric string, ss float64, peer string, pv float64, notes string, goals ...goal) Result {
	r := Result{Scenario: scen, Metric: metric, Syncspace: ss, Peer: peer, PeerValue: pv, Notes: notes}
	if pv > 0 {
		r.Ratio = ss / pv
	}
	var descs []string
	pass := true
	for _, g := range goals {
		descs = append(descs, g.desc)
		if !g.ok(ss, pv, r.Ratio) {
			pass = false
		}
	}
	r.Target = strings.Join(descs, " and ")
	switch {
	case len(goals) == 0:
		r.Verdict = "info"
	case pass:
		r.Verdict = "pass"
	default:
		r.Verdict = "MISS"
	}
	return r
}

// skipped is a row whose peer (or whole scenario) could not run.
func skipped(scen, metric, peer, reason string) Result {
	return Result{Scenario: scen, Metric: metric, Peer: peer, Verdict: "skipped: " + oneLine(reason)}
}

// failed is a row whose measurement failed.
func failed(scen, metric, peer string, err error) Result {
	return Result{Scenario: scen, Metric: metric, Peer: peer, Verdict: "error: " + oneLine(err.Error())}
}

// withSyncspace fills in syncspace's figure on a skipped peer row, so that the table
// still shows what was measured.
func withSyncspace(r Result, ss float64) Result {
	r.Syncspace = ss
	return r
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", "; ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// median returns the median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile returns the p-th percentile (0..100) of ds by nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(p/100*float64(len(s))+0.999999) - 1
	k = min(max(k, 0), len(s)-1)
	return s[k]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Machine describes the machine a run was made on.
type Machine struct {
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpu_model"`
	Memory string `json:"memory"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// String is the one-line description printed under the table.
func (m Machine) String() string {
	return fmt.Sprintf("machine: %d CPUs (%s), %s RAM, Linux %s, %s", m.CPUs, m.Model, m.Memory, m.Kernel, m.Go)
}

// DescribeMachine reads the CPU model and memory size from /proc.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Model: "unknown", Memory: "unknown", Kernel: "unknown", Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if v, ok := procField(b, "model name"); ok {
			m.Model = v
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if v, ok := procField(b, "MemTotal"); ok {
			if kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64); err == nil {
				m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// procField returns the value of "key: value" (or "key<TAB>: value") in a /proc file.
func procField(b []byte, key string) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// parseRSS returns VmRSS in bytes from the text of /proc/PID/status.
func parseRSS(status []byte) (int64, error) {
	v, ok := procField(status, "VmRSS")
	if !ok {
		return 0, errors.New("no VmRSS line")
	}
	num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad VmRSS %q", v)
	}
	switch strings.TrimSpace(unit) {
	case "kB", "KB", "":
		if n > 1<<42 {
			return 0, fmt.Errorf("bad VmRSS %q", v)
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("bad VmRSS unit %q", unit)
}

// rssOf returns the resident set size of process pid in bytes.
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseRSS(b)
}

// cpuOf is the CPU time of process pid and of its reaped children (/proc/PID/stat
// utime, stime, cutime, cstime).
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b, clockTicks)
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// parseStatCPU sums fields 14-17 of a /proc/PID/stat line (after the command name,
// which may hold spaces and parentheses).
func parseStatCPU(stat []byte, hz int64) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state): fields 14-17 are f[11:15].
	if len(f) < 15 {
		return 0, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:15] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / time.Duration(hz), nil
}

// FsyncLatency returns the median time to write 4 KiB to a new file in dir and fsync
// it (20 samples): the floor under every durable write of the upload scenarios.
func FsyncLatency(dir string) (time.Duration, error) {
	f, err := os.CreateTemp(dir, ".syncbench-fsync-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var ds []time.Duration
	for i := 0; i < 20; i++ {
		buf[0] = byte(i)
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	return percentile(ds, 50), nil
}
