package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// CentrifugoModule is the Centrifugo version the fan-out scenario compares against.
const CentrifugoModule = "github.com/centrifugal/centrifugo/v6@v6.9.1"

// installer finds peers and installs missing ones (once per run).
type installer struct {
	cache   string
	allowed bool
	log     *slog.Logger

	mu       sync.Mutex
	updated  bool              // apt-get update ran
	found    map[string]string // binary → path
	failures map[string]string // binary → why it is unavailable
}

func newInstaller(cache string, allowed bool, log *slog.Logger) *installer {
	return &installer{cache: cache, allowed: allowed, log: log, found: map[string]string{}, failures: map[string]string{}}
}

// apt returns the path of binary bin, installing Debian package pkg with apt-get when
// it is missing and the process runs as root (apt-get update once if the install
// fails). The error says why the peer is unavailable.
func (in *installer) apt(ctx context.Context, bin, pkg string, extraDirs ...string) (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if p, ok := in.found[bin]; ok {
		return p, nil
	}
	if why, ok := in.failures[bin]; ok {
		return "", errors.New(why)
	}
	look := func() (string, bool) {
		if p, err := exec.LookPath(bin); err == nil {
			return p, true
		}
		for _, d := range append([]string{"/usr/sbin", "/usr/bin", "/sbin"}, extraDirs...) {
			p := filepath.Join(d, bin)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p, true
			}
		}
		return "", false
	}
	if p, ok := look(); ok {
		in.found[bin] = p
		return p, nil
	}
	fail := func(why string) (string, error) {
		in.failures[bin] = why
		return "", errors.New(why)
	}
	switch {
	case !in.allowed:
		return fail(fmt.Sprintf("%s not installed (--no-install; Debian package %s)", bin, pkg))
	case os.Geteuid() != 0:
		return fail(fmt.Sprintf("%s not installed and not root (install Debian package %s)", bin, pkg))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fail(fmt.Sprintf("%s not installed and no apt-get (install package %s)", bin, pkg))
	}
	in.log.Info("installing peer", "package", pkg)
	out, err := in.aptGet(ctx, "install", "-y", "--no-install-recommends", pkg)
	if err != nil && !in.updated {
		in.updated = true
		in.log.Info("apt-get install failed, running apt-get update once", "package", pkg)
		if uo, uerr := in.aptGet(ctx, "update"); uerr != nil {
			return fail(fmt.Sprintf("apt-get update failed: %s", lastLine(uo)))
		}
		out, err = in.aptGet(ctx, "install", "-y", "--no-install-recommends", pkg)
	}
	if err != nil {
		return fail(fmt.Sprintf("apt-get install %s failed: %s", pkg, lastLine(out)))
	}
	if p, ok := look(); ok {
		in.found[bin] = p
		return p, nil
	}
	return fail(fmt.Sprintf("package %s installed but %s not found", pkg, bin))
}

func (in *installer) aptGet(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return cmd.CombinedOutput()
}

// centrifugo returns the path of a centrifugo binary of CentrifugoModule's version,
// building it with `go install` into the cache directory when missing.
func (in *installer) centrifugo(ctx context.Context) (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	const bin = "centrifugo"
	if p, ok := in.found[bin]; ok {
		return p, nil
	}
	if why, ok := in.failures[bin]; ok {
		return "", errors.New(why)
	}
	fail := func(why string) (string, error) {
		in.failures[bin] = why
		return "", errors.New(why)
	}
	gobin := filepath.Join(in.cache, "centrifugo-v6.9.1")
	p := filepath.Join(gobin, bin)
	if _, err := os.Stat(p); err == nil {
		in.found[bin] = p
		return p, nil
	}
	if !in.allowed {
		return fail("centrifugo not in " + gobin + " (--no-install)")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		//lint:ignore SA1019 fallback when go is not on PATH: the toolchain syncbench was built with
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			return fail("centrifugo missing and no go tool to build it")
		}
	}
	if err := os.MkdirAll(gobin, 0o755); err != nil {
		return fail(err.Error())
	}
	in.log.Info("building peer (takes a few minutes once)", "module", CentrifugoModule, "into", gobin)
	ictx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ictx, goTool, "install", CentrifugoModule)
	cmd.Dir = os.TempDir() // outside any module, so go.mod of the caller is not touched
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		why := lastLine(out)
		if ictx.Err() != nil || why == "" {
			why = err.Error() // killed (the scenario's time ran out) or silent: say how it ended
			if cerr := ictx.Err(); cerr != nil {
				why += " (" + cerr.Error() + "; build it once by hand: GOBIN=" + gobin + " go install " + CentrifugoModule + ")"
			}
		}
		return fail("go install " + CentrifugoModule + " failed: " + why)
	}
	if _, err := os.Stat(p); err != nil {
		return fail("go install produced no binary in " + gobin)
	}
	in.found[bin] = p
	return p, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// proc is a peer process started by the benchmark; its output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc starts bin with args; stdout and stderr go to dir/NAME.log. The process
// gets its own process group and is killed (with its children) by stop.
func startProc(name, dir, bin string, args []string, env []string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines of the process's log (for error messages).
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	b = bytes.TrimSpace(b)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

// stop sends SIGTERM to the process group, then SIGKILL after 5 s.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	signalGroup(p.cmd.Process, false)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		signalGroup(p.cmd.Process, true)
		<-p.done
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago:
// they are held together while picked, so none is picked twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitHTTP polls url until it answers with a status below 500 (any answer when
// anyStatus), the process exits, or timeout passes.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration, anyStatus bool) error {
	deadline := time.Now().Add(timeout)
	cl := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := cl.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if anyStatus || resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p != nil {
		return fmt.Errorf("%s did not answer on %s within %s: %s", p.name, url, timeout, p.tail())
	}
	return fmt.Errorf("no answer on %s within %s", url, timeout)
}
