package syncclient

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// proxyChildEnv marks the child process of TestPlainHTTPNeverProxied: net/http reads
// the proxy variables once per process, so the test runs in a fresh one.
const proxyChildEnv = "SYNCCLIENT_TEST_PROXY_CHILD"

// Plain http and ws go to loopback hosts only (SPEC §1), so the token never crosses a
// network in clear: not even through a proxy named by HTTP_PROXY, which net/http
// would use for a name such as "localhost." or "app.localhost" (it bypasses only
// "localhost" and loopback addresses).
func TestPlainHTTPNeverProxied(t *testing.T) {
	if os.Getenv(proxyChildEnv) != "" {
		plainThroughProxyChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPlainHTTPNeverProxied$", "-test.v")
	cmd.Env = append(os.Environ(), proxyChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestPlainHTTPNeverProxied") {
		t.Fatalf("child did not run the test:\n%s", out)
	}
}

// plainThroughProxyChild sets HTTP_PROXY to a listener of its own and checks that no
// request of a plain-http client (HTTP or WebSocket) reaches it.
func plainThroughProxyChild(t *testing.T) {
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	got := make(chan string, 8)
	go func() {
		for {
			conn, err := proxy.Accept()
			if err != nil {
				return
			}
			var head []string
			r := bufio.NewReader(conn)
			for {
				line, err := r.ReadString('\n')
				if err != nil || strings.TrimSpace(line) == "" {
					break
				}
				line = strings.TrimSpace(line)
				if strings.HasPrefix(strings.ToLower(line), "authorization:") {
					line = "Authorization: (the token)" // never printed
				}
				head = append(head, line)
			}
			got <- strings.Join(head, " | ")
			conn.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			conn.Close()
		}
	}()
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		os.Setenv(k, "http://"+proxy.Addr().String())
	}
	os.Unsetenv("NO_PROXY")
	os.Unsetenv("no_proxy")
	for _, server := range []string{"http://app.localhost:9", "http://localhost.:9", "ws://app.localhost:9"} {
		c, err := New(Options{Server: server, Token: "secret-token"})
		if err != nil {
			t.Fatalf("%s: %v", server, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = c.Changes(ctx, 0, "", 1)
		_, _, _ = c.Subscribe(ctx, "id", -1, "")
		cancel()
	}
	// The proxy is plain http too: a request would have reached it by now.
	select {
	case line := <-got:
		t.Fatalf("a plain-http request with the token went to the proxy: %q", line)
	case <-time.After(200 * time.Millisecond):
	}
}
