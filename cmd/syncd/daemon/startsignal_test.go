package daemon

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// silentServer accepts TCP connections on loopback and never answers them (a
// database that hangs); accepted receives a value for each connection.
func silentServer(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

// startHungSyncd starts the syncd binary in cluster mode on a PostgreSQL that accepts
// the connection and never answers, and returns once syncd's start-up is stuck there.
func startHungSyncd(t *testing.T) *proc {
	t.Helper()
	pg, accepted := silentServer(t)
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	if err := os.WriteFile(kek, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, "data"),
		"auth":    map[string]any{"kek_file": kek},
		"cluster": map[string]any{"postgres": "postgres://syncd@" + pg + "/none?sslmode=disable", "blobs": "dir:" + filepath.Join(dir, "blobs")}})
	cfg := filepath.Join(dir, "c.json")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(syncdBinary(t), "-config", cfg)
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case <-accepted:
	case <-p.exited:
		t.Fatalf("syncd exited: %v\n%s", p.err, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("syncd never connected to the database:\n%s", p.stderr.String())
	}
	time.Sleep(200 * time.Millisecond) // well inside the connection's start-up
	return p
}

// TestSignalDuringStartUp: SIGTERM while the start-up waits on a database that does
// not answer ends it (exit 0, as a stop request), and SIGINT after it (Ctrl-C twice)
// exits at once whatever the start-up is blocked on. Both signals used to wait for the
// start-up to finish, which here it never did: only SIGKILL stopped syncd.
func TestSignalDuringStartUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a syncd subprocess")
	}
	t.Run("first signal ends the start-up", func(t *testing.T) {
		p := startHungSyncd(t)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 15*time.Second); code != 0 {
			t.Fatalf("exit %d, want 0:\n%s", code, p.stderr.String())
		}
	})
	t.Run("second signal exits at once", func(t *testing.T) {
		p := startHungSyncd(t)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(2 * DuplicateSignalWindow)
		start := time.Now()
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.exited:
			// The first signal may have ended the start-up already (exit 0).
			if code := p.cmd.ProcessState.ExitCode(); code != 0 && code != 1 {
				t.Fatalf("exit %d:\n%s", code, p.stderr.String())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("still running %v after a second signal:\n%s", time.Since(start), p.stderr.String())
		}
	})
}
