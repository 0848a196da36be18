// Package nginxconf writes the nginx configuration that the cluster tests and
// syncbench run in front of syncd nodes: round robin over the nodes, WebSocket
// upgrades passed on, request and response bodies unbuffered, logs and temp files in
// one directory (nginx runs as an ordinary user). docs/CLUSTER.md shows the same
// proxy settings for a deployment.
package nginxconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Options vary the configuration.
type Options struct {
	// WorkerConnections is nginx's worker_connections; 0 means 1024.
	WorkerConnections int
	// RetryOn503 passes a request on to the next node when one answers 503 (a node
	// starting or draining) as well as on connection errors and timeouts.
	RetryOn503 bool
}

const template = `worker_processes 1;
error_log {{DIR}}/error.log warn;
events { worker_connections {{CONNS}}; }
http {
	access_log off;
	client_body_temp_path {{DIR}}/body;
	proxy_temp_path {{DIR}}/proxy;
	fastcgi_temp_path {{DIR}}/fastcgi;
	uwsgi_temp_path {{DIR}}/uwsgi;
	scgi_temp_path {{DIR}}/scgi;
	map $http_upgrade $connection_upgrade { default upgrade; '' close; }
	upstream syncd {
{{SERVERS}}	}
	server {
		listen {{LISTEN}};
		client_max_body_size 0;
		location / {
			proxy_pass http://syncd;
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection $connection_upgrade;
			proxy_set_header Host $host;
			proxy_request_buffering off;
			proxy_buffering off;
			proxy_read_timeout 3600s;
			proxy_connect_timeout 2s;
			proxy_next_upstream {{NEXT}};
		}
	}
}
`

// Render returns the configuration: nginx on listen (host:port), round robin over
// servers (host:port each; a server failing once is left out for 2 s), with its log
// and temp files under dir.
func Render(dir, listen string, servers []string, o Options) (string, error) {
	if len(servers) == 0 {
		return "", fmt.Errorf("nginxconf: no servers")
	}
	for _, s := range append([]string{dir, listen}, servers...) {
		if s == "" || strings.ContainsAny(s, ";{}\n\r\t ") {
			return "", fmt.Errorf("nginxconf: unusable value %q", s)
		}
	}
	var ups strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&ups, "\t\tserver %s max_fails=1 fail_timeout=2s;\n", s)
	}
	conns := o.WorkerConnections
	if conns <= 0 {
		conns = 1024
	}
	next := "error timeout"
	if o.RetryOn503 {
		next += " http_503"
	}
	return strings.NewReplacer("{{DIR}}", dir, "{{SERVERS}}", ups.String(), "{{LISTEN}}", listen,
		"{{CONNS}}", fmt.Sprint(conns), "{{NEXT}}", next).Replace(template), nil
}

// Write creates dir, writes dir/nginx.conf (Render) and returns the arguments that run
// nginx with it in the foreground, its pid file in dir.
func Write(dir, listen string, servers []string, o Options) (args []string, err error) {
	conf, err := Render(dir, listen, servers, o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return []string{"-p", dir, "-c", "nginx.conf", "-g", "daemon off; pid " + filepath.Join(dir, "nginx.pid") + ";"}, nil
}
