package reliability

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncdBinary returns a syncd binary built from cmd/syncd. While cmd/syncd has no real
// main yet (it is being finished in parallel), it builds the same three-line main
// (daemon.Run) from a temporary file instead, and says so.
func syncdBinary(t *testing.T) string {
	t.Helper()
	bin := buildBinary(t, "github.com/syncspace/syncspace/cmd/syncd")
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	if strings.Contains(string(out), "usage: syncd") {
		return bin
	}
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := bins["wrapper"]; ok {
		return p
	}
	t.Log("cmd/syncd has no main yet: building daemon.Run from a temporary main package")
	src := filepath.Join(binDir, "wrapper", "main.go")
	if err := os.MkdirAll(filepath.Dir(src), 0o700); err != nil {
		t.Fatal(err)
	}
	const main = `package main

import (
	"context"
	"os"

	"github.com/syncspace/syncspace/cmd/syncd/daemon"
)

func main() { os.Exit(daemon.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }
`
	if err := os.WriteFile(src, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(binDir, "syncd-wrapper")
	if b, err := exec.Command("go", "build", "-o", wrapper, src).CombinedOutput(); err != nil {
		t.Fatalf("go build wrapper: %v\n%s", err, b)
	}
	bins["wrapper"] = wrapper
	return wrapper
}

// proc is a syncd subprocess running the embedded default in its working directory.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	logs   *logBuf
	exited chan struct{}
	err    error
}

var listenRE = regexp.MustCompile(`msg="syncd listening" addr=(\S+)`)

// startProc starts syncd in dir (SYNCD_LISTEN=127.0.0.1:0) and waits for its address.
func startProc(t *testing.T, bin, dir string) *proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SYNCD_LISTEN=127.0.0.1:0", "SYNCD_LOG_LEVEL=info")
	p := &proc{cmd: cmd, logs: &logBuf{}, exited: make(chan struct{})}
	cmd.Stdout = io.Discard
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "level=INFO") && strings.Contains(line, `msg=request`) {
				continue // request lines: too many to keep
			}
			p.logs.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil {
				once.Do(func() { found <- m[1] })
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() { p.err = cmd.Wait(); pw.Close(); close(p.exited) }()
	t.Cleanup(func() { p.kill() })
	select {
	case p.addr = <-found:
	case <-p.exited:
		t.Fatalf("syncd exited at start: %v\n%s", p.err, p.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("syncd did not start:\n%s", p.logs.String())
	}
	return p
}

// kill SIGKILLs the process and waits for it.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}
