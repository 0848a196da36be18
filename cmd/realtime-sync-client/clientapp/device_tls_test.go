package clientapp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/tenants"
)

// clientCertFiles makes a client CA and a client certificate signed by it, as files.
func clientCertFiles(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(10), Subject: pkix.Name{CommonName: "client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(11), Subject: pkix.Name{CommonName: "laptop"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "client-ca.pem"), filepath.Join(dir, "laptop.pem"), filepath.Join(dir, "laptop.key")
	writePEM(t, caFile, "CERTIFICATE", caDER)
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return caFile, certFile, keyFile
}

// TestDeviceCredentialClientCert: the real client on a device enrolled with a client
// certificate syncs over mutual TLS with --cert/--key, and is refused without them.
func TestDeviceCredentialClientCert(t *testing.T) {
	pki := makePKI(t)
	clientCA, certFile, keyFile := clientCertFiles(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "syncd.json")
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, "data"), "log": map[string]any{"level": "warn"},
		"tls": map[string]any{"mode": "manual", "cert_file": pki.Files.CertFile, "key_file": pki.Files.KeyFile,
			"client_ca": clientCA, "client_auth": "optional"}})
	os.WriteFile(cfg, b, 0o600)
	d, err := daemon.Start(context.Background(), []string{"-config", cfg}, io.Discard, &syncBuf{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	server := "https://" + d.Addr()
	if _, err := d.Registry().Create(context.Background(), "t1", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(certFile)
	thumb, err := auth.ThumbprintPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := d.Auth().Devices().Enroll(context.Background(), "t1", "alice", auth.RoleWrite, "laptop", thumb)
	if err != nil {
		t.Fatal(err)
	}
	cred := filepath.Join(t.TempDir(), "laptop.json")
	cb, _ := json.Marshal(map[string]string{"refresh_token": secret, "server": server, "tenant": "t1", "subject": "alice", "device": "laptop"})
	os.WriteFile(cred, cb, 0o600)
	folder := t.TempDir()
	writeFile(t, filepath.Join(folder, "m.txt"), "mtls")
	if code, logs := runOnce(t, server, cred, folder, "--ca-file", pki.CAFile); code != ExitFailure || !strings.Contains(logs, "refused the device credential") {
		t.Fatalf("without its certificate: exit %d\n%s", code, logs)
	}
	if code, logs := runOnce(t, server, cred, folder, "--ca-file", pki.CAFile, "--cert", certFile, "--key", keyFile); code != 0 {
		t.Fatalf("with its certificate: exit %d\n%s", code, logs)
	}
	if secretOf(t, cred) == secret {
		t.Fatal("credential not rotated")
	}
}
