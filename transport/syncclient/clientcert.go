package syncclient

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// clientCert is the client certificate for mutual TLS (--cert/--key), reloaded when
// either file changes (checked at most once a second, at handshakes).
type clientCert struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time
	checked time.Time
}

func newClientCert(certFile, keyFile string) (*clientCert, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("a client certificate needs both a certificate and a key file")
	}
	c := &clientCert{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *clientCert) stamps() ([2]time.Time, error) {
	var s [2]time.Time
	for i, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = fi.ModTime()
	}
	return s, nil
}

func (c *clientCert) load() error {
	st, err := c.stamps()
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("client certificate %s: %w", c.certFile, err)
	}
	c.cert, c.stamp = &pair, st
	return nil
}

// get is tls.Config.GetClientCertificate: the current pair, reloaded when the files
// changed; a pair that no longer loads keeps the previous one.
func (c *clientCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= time.Second {
		c.checked = time.Now()
		if st, err := c.stamps(); err == nil && st != c.stamp {
			_ = c.load()
		}
	}
	return c.cert, nil
}

// useClientCert makes conf present the client certificate of certFile and keyFile
// (none when both are "").
func useClientCert(conf *tls.Config, certFile, keyFile string) error {
	if certFile == "" && keyFile == "" {
		return nil
	}
	cc, err := newClientCert(certFile, keyFile)
	if err != nil {
		return err
	}
	conf.GetClientCertificate = cc.get
	return nil
}
