package reliability

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/internal/testbin"
)

// syncdBinary is cmd/syncd, built once per source tree (cmd/internal/testbin).
func syncdBinary(t *testing.T) string {
	t.Helper()
	return testbin.Path(t, testbin.Syncd)
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

// waitStartCheck waits until syncd logs that its start-up disk check (run in the
// background once it serves) is done.
func (p *proc) waitStartCheck(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.logs.String(), "start-up disk check done") {
		if time.Now().After(deadline) {
			t.Fatalf("no start-up disk check:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
