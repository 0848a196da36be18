package servicetest

import (
	"net"
	"sync"
	"testing"
)

// StallProxy forwards TCP connections to a service until Stall: from then on it reads
// what either side sends and passes nothing on (a hung server, or a network path that
// drops packets without a reset), new connections included, until Resume, when what
// it held goes through. A test injects a stalled service with it; the connections
// close when the test ends.
type StallProxy struct {
	ln   net.Listener
	mu   sync.Mutex
	gate chan struct{} // closed while forwarding
}

// NewStallProxy listens on 127.0.0.1:0 and forwards every connection to the address to,
// forwarding until Stall.
func NewStallProxy(t testing.TB, to string) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &StallProxy{ln: ln, gate: make(chan struct{})}
	close(p.gate)
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		p.Resume()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, up)
			mu.Unlock()
			conns.Add(2)
			go func() { defer conns.Done(); p.pipe(up, c) }()
			go func() { defer conns.Done(); p.pipe(c, up) }()
		}
	}()
	return p
}

// Addr is the proxy's host:port.
func (p *StallProxy) Addr() string { return p.ln.Addr().String() }

// pipe copies from src to dst, each chunk only while the proxy forwards.
func (p *StallProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			g := p.gate
			p.mu.Unlock()
			<-g
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Stall stops forwarding (connections stay open).
func (p *StallProxy) Stall() {
	p.mu.Lock()
	p.gate = make(chan struct{})
	p.mu.Unlock()
}

// Resume forwards again, starting with what was held.
func (p *StallProxy) Resume() {
	p.mu.Lock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
	p.mu.Unlock()
}
