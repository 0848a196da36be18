package daemon

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config"
)

func TestProbeURL(t *testing.T) {
	tests := []struct {
		listen, mode, want string
	}{
		{"127.0.0.1:8080", "off", "http://127.0.0.1:8080/readyz"},
		{"0.0.0.0:8080", "off", "http://127.0.0.1:8080/readyz"},
		{":8080", "off", "http://127.0.0.1:8080/readyz"},
		{"[::]:8443", "manual", "https://[::1]:8443/readyz"},
		{"[::1]:9", "off", "http://[::1]:9/readyz"},
		{"10.0.0.5:443", "acme", "https://10.0.0.5:443/readyz"},
		{"localhost:8080", "off", "http://localhost:8080/readyz"},
	}
	for _, tc := range tests {
		c := config.Default()
		c.Listen, c.TLS.Mode = tc.listen, tc.mode
		got, err := probeURL(c)
		if err != nil || got != tc.want {
			t.Errorf("probeURL(%s, %s) = %q %v, want %q", tc.listen, tc.mode, got, err, tc.want)
		}
	}
}

func TestTakeHealthcheck(t *testing.T) {
	for _, args := range [][]string{{"-healthcheck"}, {"--healthcheck", "-config", "x"}, {"-config", "x", "-healthcheck=true"}} {
		if hc, rest := takeHealthcheck(args); !hc || len(rest) != len(args)-1 {
			t.Errorf("%q: %v %q", args, hc, rest)
		}
	}
	if hc, _ := takeHealthcheck([]string{"-config", "-healthcheck.json"}); hc {
		t.Error("a file name taken for the flag")
	}
}

// TestHealthcheck runs `syncd -healthcheck -config FILE` (through Run's code path)
// against a real syncd: 0 while it serves, 1 once it is gone, 2 on bad usage. The
// config file has port 0; the probe gets the real address through SYNCD_LISTEN, the
// override both syncd and the probe honour.
func TestHealthcheck(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "syncd.json")
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, "data"), "log": map[string]any{"level": "warn"}})
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := start(context.Background(), []string{"-config", cfgPath}, &syncBuffer{}, &syncBuffer{}, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	env := envFunc(map[string]string{"SYNCD_LISTEN": d.Addr()})
	var out, errb syncBuffer
	if code := runHealthcheck(context.Background(), []string{"-config", cfgPath}, &out, &errb, env); code != 0 {
		t.Fatalf("healthcheck of a running syncd: exit %d, %s", code, errb.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	errb = syncBuffer{}
	if code := runHealthcheck(context.Background(), []string{"-config", cfgPath}, &out, &errb, env); code != 1 ||
		!strings.Contains(errb.String(), "http://"+d.Addr()+"/readyz") {
		t.Fatalf("healthcheck of a stopped syncd: exit %d, %q", code, errb.String())
	}
	if code := runHealthcheck(context.Background(), []string{"-config", cfgPath, "extra"}, &out, &errb, env); code != 2 {
		t.Fatalf("bad usage: exit %d", code)
	}
	if code := runHealthcheck(context.Background(), []string{"-config", filepath.Join(dir, "missing.json")}, &out, &errb, env); code != 1 {
		t.Fatalf("missing config: exit %d", code)
	}
	// Something that is not syncd answering on the port: not ready.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer other.Close()
	errb = syncBuffer{}
	if code := runHealthcheck(context.Background(), []string{"-config", cfgPath}, &out, &errb, envFunc(map[string]string{"SYNCD_LISTEN": other.Listener.Addr().String()})); code != 1 || !strings.Contains(errb.String(), "503") {
		t.Fatalf("503 answer: exit %d, %q", code, errb.String())
	}
}

// TestHealthcheckManualTLS: in manual TLS mode the probe speaks https to the listener
// (a certificate of a CA the probe does not know: it does not verify it).
func TestHealthcheckManualTLS(t *testing.T) {
	ca := newTestCA(t)
	cert, key := ca.issue(t, 2, x509.ExtKeyUsageServerAuth)
	cfgPath, d := startManualTLS(t, cert, key, nil)
	var out, errb syncBuffer
	if code := runHealthcheck(context.Background(), []string{"-config", cfgPath}, &out, &errb, envFunc(map[string]string{"SYNCD_LISTEN": d.Addr()})); code != 0 {
		t.Fatalf("healthcheck over https: exit %d, %s", code, errb.String())
	}
}
