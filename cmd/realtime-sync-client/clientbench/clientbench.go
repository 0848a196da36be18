// Package clientbench measures realtime-sync-client against a running syncd: the
// propagation latency of a change from one client to another, and the wall time of an
// initial sync into an empty folder. The syncbench command and this package's tests
// call these functions; both clients run in-process through clientapp.Run.
package clientbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncspace/syncspace/cmd/realtime-sync-client/clientapp"
)

// Target is the server to measure against.
type Target struct {
	// Server is the server root URL (http:// only on loopback).
	Server string
	// Token is a write token of the tenant to use (it is written to a 0600 file).
	Token string
	// CAFile is an optional extra trusted root for https servers.
	CAFile string
}

// Latency summarizes propagation samples.
type Latency struct {
	N             int
	P50, P99, Max time.Duration
	Samples       []time.Duration
}

// String prints the summary on one line.
func (l Latency) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", l.N, l.P50.Round(time.Millisecond/10), l.P99.Round(time.Millisecond/10), l.Max.Round(time.Millisecond/10))
}

// InitialSync is the outcome of one initial-sync run.
type InitialSync struct {
	Files int
	Bytes int64
	Seed  time.Duration // uploading the files from a first client (not the figure)
	Sync  time.Duration // a second client's --once into an empty folder
}

// String prints the outcome on one line.
func (s InitialSync) String() string {
	return fmt.Sprintf("%d files, %d bytes: initial sync %v (%.0f files/s); seeding %v",
		s.Files, s.Bytes, s.Sync.Round(time.Millisecond), float64(s.Files)/s.Sync.Seconds(), s.Seed.Round(time.Millisecond))
}

// running is one client in this process.
type running struct {
	cancel context.CancelFunc
	done   chan int
	logs   *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (tg Target) args(dir, tokenFile string, extra ...string) []string {
	a := []string{"--server", tg.Server, "--local-path", dir, "--token-file", tokenFile, "--log-level", "warn"}
	if tg.CAFile != "" {
		a = append(a, "--ca-file", tg.CAFile)
	}
	return append(a, extra...)
}

func start(ctx context.Context, args []string) *running {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan int, 1), logs: &lockedBuf{}}
	go func() { r.done <- clientapp.Run(ctx, args, io.Discard, r.logs) }()
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

func once(ctx context.Context, args []string) error {
	logs := &lockedBuf{}
	if code := clientapp.Run(ctx, append(args, "--once"), io.Discard, logs); code != 0 {
		return fmt.Errorf("client --once exited %d: %s", code, lastLine(logs.String()))
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func writeTokenFile(workDir, token string) (string, error) {
	p := filepath.Join(workDir, "bench.token")
	return p, os.WriteFile(p, []byte(token+"\n"), 0o600)
}

// waitFor polls path until it holds want or ctx/timeout ends.
func waitFor(ctx context.Context, path string, want []byte, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, want) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(500 * time.Microsecond)
	}
	return fmt.Errorf("timed out waiting for %s", filepath.Base(path))
}

// Propagation runs two realtime clients on empty folders under workDir and measures,
// n times, the time from writing a size-byte file in A to its content being in place
// in B.
func Propagation(ctx context.Context, tg Target, workDir string, n, size int) (Latency, error) {
	if n <= 0 || size <= 0 {
		return Latency{}, errors.New("n and size must be positive")
	}
	tok, err := writeTokenFile(workDir, tg.Token)
	if err != nil {
		return Latency{}, err
	}
	a, b := filepath.Join(workDir, "prop-a"), filepath.Join(workDir, "prop-b")
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Latency{}, err
		}
	}
	ra := start(ctx, tg.args(a, tok, "--realtime"))
	defer ra.stop()
	rb := start(ctx, tg.args(b, tok, "--realtime"))
	defer rb.stop()
	// Warm up: both connected and syncing.
	warm := []byte("warm-up")
	for i := 0; ; i++ {
		if err := os.WriteFile(filepath.Join(a, "warmup.txt"), append(warm, byte('0'+i%10)), 0o644); err != nil {
			return Latency{}, err
		}
		if waitFor(ctx, filepath.Join(b, "warmup.txt"), append(warm, byte('0'+i%10)), 3*time.Second) == nil {
			break
		}
		if i == 5 {
			return Latency{}, fmt.Errorf("clients do not sync: A: %s B: %s", lastLine(ra.logs.String()), lastLine(rb.logs.String()))
		}
	}
	time.Sleep(200 * time.Millisecond)
	lat := Latency{N: n}
	content := make([]byte, size)
	for i := 0; i < n; i++ {
		stamp := fmt.Sprintf("change %06d ", i)
		copy(content, bytes.Repeat([]byte(stamp), size/len(stamp)+1))
		name := fmt.Sprintf("f%03d.txt", i%20)
		t0 := time.Now()
		if err := os.WriteFile(filepath.Join(a, name), content, 0o644); err != nil {
			return lat, err
		}
		if err := waitFor(ctx, filepath.Join(b, name), content, 10*time.Second); err != nil {
			return lat, fmt.Errorf("change %d: %w", i, err)
		}
		lat.Samples = append(lat.Samples, time.Since(t0))
		time.Sleep(10 * time.Millisecond)
	}
	s := append([]time.Duration(nil), lat.Samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	lat.P50 = s[len(s)/2]
	lat.P99 = s[min(len(s)-1, len(s)*99/100)]
	lat.Max = s[len(s)-1]
	return lat, nil
}

// InitialSyncRun fills the server with files × size bytes from a first client, then
// measures a second client's full --once reconcile into an empty folder.
func InitialSyncRun(ctx context.Context, tg Target, workDir string, files, size int) (InitialSync, error) {
	res := InitialSync{Files: files, Bytes: int64(files) * int64(size)}
	seed, err := Seed(ctx, tg, workDir, files, size)
	res.Seed = seed
	if err != nil {
		return res, err
	}
	res.Sync, err = SyncEmpty(ctx, tg, workDir, files)
	return res, err
}

// Seed writes files × size bytes under workDir/init-src (100 per directory) and
// uploads them with one client --once; it returns the time of the upload.
func Seed(ctx context.Context, tg Target, workDir string, files, size int) (time.Duration, error) {
	tok, err := writeTokenFile(workDir, tg.Token)
	if err != nil {
		return 0, err
	}
	src := filepath.Join(workDir, "init-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return 0, err
	}
	buf := make([]byte, size)
	for i := 0; i < files; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.bin", i))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return 0, err
			}
		}
		copy(buf, fmt.Sprintf("file %d\n", i))
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return 0, err
		}
	}
	t0 := time.Now()
	if err := once(ctx, tg.args(src, tok)); err != nil {
		return 0, fmt.Errorf("seeding: %w", err)
	}
	return time.Since(t0), nil
}

// SyncEmpty times a client's --once into a new empty folder under workDir and checks
// that it then holds files .bin files.
func SyncEmpty(ctx context.Context, tg Target, workDir string, files int) (time.Duration, error) {
	tok, err := writeTokenFile(workDir, tg.Token)
	if err != nil {
		return 0, err
	}
	dst, err := os.MkdirTemp(workDir, "init-dst-")
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := once(ctx, tg.args(dst, tok)); err != nil {
		return 0, fmt.Errorf("initial sync: %w", err)
	}
	took := time.Since(t0)
	n := 0
	err = filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, ".bin") {
			n++
		}
		return nil
	})
	if err != nil || n != files {
		return took, fmt.Errorf("initial sync left %d of %d files", n, files)
	}
	return took, nil
}
