package nginxconf

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/config/servicetest"
)

// TestWriteIsValid: the written configuration passes `nginx -t` with the real nginx.
func TestWriteIsValid(t *testing.T) {
	bin := servicetest.Nginx(t)
	dir := t.TempDir()
	args, err := Write(dir, "127.0.0.1:1", []string{"127.0.0.1:2", "127.0.0.1:3"}, Options{WorkerConnections: 4096, RetryOn503: true})
	if err != nil {
		t.Fatal(err)
	}
	// -t checks the file without serving; the pid directive comes from -g as in a run.
	out, err := exec.Command(bin, append([]string{"-t"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

func TestRender(t *testing.T) {
	conf, err := Render("/d", "127.0.0.1:80", []string{"a:1", "b:2"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"worker_connections 1024;", "server a:1 max_fails=1", "server b:2 max_fails=1",
		"listen 127.0.0.1:80;", "proxy_next_upstream error timeout;", "error_log /d/error.log"} {
		if !strings.Contains(conf, want) {
			t.Errorf("missing %q in:\n%s", want, conf)
		}
	}
	if conf, _ := Render("/d", "l:1", []string{"a:1"}, Options{RetryOn503: true}); !strings.Contains(conf, "error timeout http_503;") {
		t.Errorf("RetryOn503 not applied:\n%s", conf)
	}
	// attacks: values that would inject directives or break the file.
	for _, c := range []struct {
		dir, listen string
		servers     []string
	}{
		{"/d", "l:1", nil},
		{"/d", "l:1", []string{""}},
		{"/d", "l:1; include /etc/passwd", []string{"a:1"}},
		{"/d", "l:1", []string{"a:1 backup;}\nserver x:1"}},
		{"/d x", "l:1", []string{"a:1"}},
		{"", "l:1", []string{"a:1"}},
	} {
		if _, err := Render(c.dir, c.listen, c.servers, Options{}); err == nil {
			t.Errorf("Render(%q, %q, %q) accepted", c.dir, c.listen, c.servers)
		}
	}
}
