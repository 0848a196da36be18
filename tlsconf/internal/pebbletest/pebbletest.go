// Package pebbletest runs a real ACME server for tests: Pebble and
// pebble-challtestsrv (github.com/letsencrypt/pebble/v2, pinned by the tool directives
// in go.mod) are built once per test binary and started on loopback, with a DNS server
// that answers 127.0.0.1 for every name. It also makes throwaway certificate
// authorities. Only tests import it.
package pebbletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Packages built from the module graph.
const (
	PebblePkg    = "github.com/letsencrypt/pebble/v2/cmd/pebble"
	ChalltestPkg = "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  bytes.Buffer
)

// Cleanup removes the built binaries; call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// goTool returns the go command of the toolchain running the test.
func goTool() string {
	//lint:ignore SA1019 the toolchain running the test is the one wanted; PATH is the fallback
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// binaries builds pebble and pebble-challtestsrv once and returns their directory.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "syncspace-pebble-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(), "build", "-o", buildDir+string(filepath.Separator), PebblePkg, ChalltestPkg)
		cmd.Stdout, cmd.Stderr = &buildOut, &buildOut
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatalf("building pebble: %v\n%s", buildErr, buildOut.String())
	}
	return buildDir
}

// CA is a certificate authority made for one test.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte
	Pool *x509.CertPool
}

var (
	serialMu sync.Mutex
	serial   = big.NewInt(100)
)

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serial = new(big.Int).Add(serial, big.NewInt(1))
	return new(big.Int).Set(serial)
}

// NewCA makes a CA valid for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca := newCA(t, "syncspace test CA", nil)
	ca.Pool = x509.NewCertPool()
	ca.Pool.AddCert(ca.Cert)
	return ca
}

// newCA makes a CA certificate valid for a day named name, signed by parent (nil:
// self-signed). The caller sets its Pool.
func newCA(t testing.TB, name string, parent *CA) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	signer, signerKey := tmpl, any(key)
	if parent != nil {
		signer, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Issue returns a PEM certificate and key for names (DNS names or IP addresses),
// valid from notBefore to notAfter, and its serial number.
func (ca *CA) Issue(t testing.TB, notBefore, notAfter time.Time, names ...string) (certPEM, keyPEM []byte, sn *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn = nextSerial()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), sn
}

// IssueNow issues a certificate valid from an hour ago for twelve hours.
func (ca *CA) IssueNow(t testing.TB, names ...string) ([]byte, []byte, *big.Int) {
	return ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(12*time.Hour), names...)
}

// Pebble is a running Pebble ACME server.
type Pebble struct {
	DirectoryURL string         // https://127.0.0.1:P/dir
	CAFile       string         // root of Pebble's own HTTPS listener (for tls.acme_ca_file)
	Roots        *x509.CertPool // Pebble's issuing root, for clients of issued certificates
	Output       *SafeBuffer    // both processes' output
}

// SafeBuffer is a bytes.Buffer safe for concurrent use.
type SafeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SafeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SafeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePorts returns n loopback TCP ports and one port free for both TCP and UDP
// (pebble-challtestsrv serves DNS on both), all distinct: they are held together
// while picked and let go only on return.
func freePorts(t testing.TB, n int) (tcp []int, dual int) {
	t.Helper()
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		tcp = append(tcp, l.Addr().(*net.TCPAddr).Port)
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		if c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			held = append(held, c)
			return tcp, port
		}
	}
	t.Fatal("no loopback port free for both TCP and UDP")
	return nil, 0
}

// startProc starts a process and returns a function that stops it; the test's
// cleanup stops it too.
func startProc(t testing.TB, out io.Writer, env []string, name string, args ...string) (stop func()) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

// errPortTaken reports that a port picked as free was taken before a process bound it.
var errPortTaken = errors.New("a port picked for pebble was taken meanwhile")

// Start starts pebble-challtestsrv and Pebble on loopback until the test ends. Pebble
// validates TLS-ALPN-01 on tlsPort and HTTP-01 on httpPort of 127.0.0.1 (every name
// resolves to 127.0.0.1). It returns once both answer. Ports are picked free just
// before the processes bind them; when another process takes one meanwhile (tests
// of other packages run in parallel), both are started again on new ports.
func Start(t testing.TB, tlsPort, httpPort int) *Pebble {
	t.Helper()
	bin := binaries(t)
	out := &SafeBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})
	const attempts = 4
	for i := 1; ; i++ {
		p, err := start(t, bin, out, tlsPort, httpPort)
		if err == nil {
			return p
		}
		if !errors.Is(err, errPortTaken) || i == attempts {
			t.Fatal(err)
		}
		t.Logf("pebbletest: attempt %d: %v; starting again on new ports", i, err)
	}
}

// portTaken reports whether a process wrote, after the first from bytes of out, that
// it could not bind its address.
func portTaken(out *SafeBuffer, from int) bool {
	return strings.Contains(out.String()[from:], "address already in use")
}

// start is one attempt of Start. On error every process it started is stopped.
func start(t testing.TB, bin string, out *SafeBuffer, tlsPort, httpPort int) (_ *Pebble, err error) {
	t.Helper()
	dir := t.TempDir()
	from := len(out.String()) // this attempt's output starts here
	var stops []func()
	defer func() {
		if err != nil {
			for _, stop := range stops {
				stop()
			}
		}
	}()

	// Pebble's own HTTPS listener gets a certificate from a CA made for this test.
	ca, err := writeListenerCert(t, dir)
	if err != nil {
		return nil, err
	}

	ports, dnsPort := freePorts(t, 3)
	challMgmtPort, apiPort, mgmtPort := ports[0], ports[1], ports[2]
	stops = append(stops, startProc(t, out, nil, filepath.Join(bin, "pebble-challtestsrv"),
		"-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort),
		"-management", "127.0.0.1:"+strconv.Itoa(challMgmtPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""))

	confFile, err := writeConfig(dir, apiPort, mgmtPort, tlsPort, httpPort)
	if err != nil {
		return nil, err
	}
	stops = append(stops, startProc(t, out, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		filepath.Join(bin, "pebble"), "-config", confFile, "-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort)))

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, Proxy: nil}}
	defer client.CloseIdleConnections()
	p := &Pebble{
		DirectoryURL: fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort),
		CAFile:       filepath.Join(dir, "ca.pem"),
		Output:       out,
	}
	w := waiter{out: out, from: from, deadline: time.Now().Add(30 * time.Second)}
	if err := w.directory(client, p.DirectoryURL); err != nil {
		return nil, err
	}
	if p.Roots, err = w.roots(client, mgmtPort); err != nil {
		return nil, err
	}
	// Wait for the DNS server on both transports: Pebble's validations would fail
	// without it.
	for _, network := range []string{"udp", "tcp"} {
		if err := w.dns(network, dnsPort); err != nil {
			return nil, err
		}
	}
	// A late bind failure (the management listener) shows up in the output too.
	if portTaken(out, from) {
		return nil, errPortTaken
	}
	return p, nil
}

// writeListenerCert makes a CA for this test and writes, in dir, its certificate
// (ca.pem) and a certificate and key for Pebble's HTTPS listener (cert.pem, key.pem).
func writeListenerCert(t testing.TB, dir string) (*CA, error) {
	ca := NewCA(t)
	certPEM, keyPEM, _ := ca.IssueNow(t, "127.0.0.1", "localhost")
	for name, data := range map[string][]byte{"ca.pem": ca.PEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

// writeConfig writes Pebble's configuration in dir and returns its file name.
func writeConfig(dir string, apiPort, mgmtPort, tlsPort, httpPort int) (string, error) {
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(apiPort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]any{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "default", "validityPeriod": 7776000}},
	}}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		return "", err
	}
	return confFile, nil
}

// waiter waits for one attempt's processes to answer, until deadline; it gives up
// early with errPortTaken once a process wrote, after the first from bytes of out,
// that it could not bind its address.
type waiter struct {
	out      *SafeBuffer
	from     int
	deadline time.Time
}

// directory waits until Pebble's directory answers 200.
func (w waiter) directory(client *http.Client, url string) error {
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if portTaken(w.out, w.from) {
			return errPortTaken
		}
		if time.Now().After(w.deadline) {
			return fmt.Errorf("pebble did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// roots fetches Pebble's issuing root from its management listener.
func (w waiter) roots(client *http.Client, mgmtPort int) (*x509.CertPool, error) {
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
	if err != nil {
		if portTaken(w.out, w.from) {
			return nil, errPortTaken
		}
		return nil, err
	}
	rootPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		return nil, fmt.Errorf("no root from pebble: %q", rootPEM)
	}
	return pool, nil
}

// dns waits until the DNS server on dnsPort answers 127.0.0.1 over network.
func (w waiter) dns(network string, dnsPort int) error {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(dnsPort))
	}}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addrs, err := r.LookupHost(ctx, "probe.sync.test")
		cancel()
		if err == nil && len(addrs) > 0 && addrs[0] == "127.0.0.1" {
			return nil
		}
		if portTaken(w.out, w.from) {
			return errPortTaken
		}
		if time.Now().After(w.deadline) {
			return fmt.Errorf("challtestsrv DNS (%s) did not answer: %v %v", network, addrs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DialTo returns a dial function that sends every connection to addr, whatever the
// host name asked for (the test names exist only in Pebble's resolver).
func DialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
	}
}
