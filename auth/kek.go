package auth

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
)

// KEKSize is the size of a key-encryption key: 32 bytes (AES-256).
const KEKSize = 32

// A key-encryption key (KEK) seals the private halves of signing keys kept in the
// store (cluster mode, auth.kek_file): AES-256-GCM over the key's PKCS #8 DER form,
// with the key id as additional data, stored as nonce || ciphertext. A sealed half
// moved to another key's record does not open.

// NewKEK returns a new key-encryption key: KEKSize bytes from crypto/rand.
func NewKEK() ([]byte, error) {
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		return nil, fmt.Errorf("auth: new key-encryption key: %w", err)
	}
	return kek, nil
}

// WriteKEKFile writes a new key-encryption key to path in the format ReadKEKFile
// reads (standard base64, one line), creating the file with mode 0600; it refuses to
// overwrite an existing file. The shell equivalent is
// `(umask 077; head -c32 /dev/urandom | base64 > kek)`.
func WriteKEKFile(path string) error {
	kek, err := NewKEK()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("auth.kek_file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(kek) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("auth.kek_file: %w", err)
	}
	return nil
}

// ReadKEKFile reads a key-encryption key from path: a regular file that neither group
// nor others may access (mode 0600 or stricter), holding one line of standard base64
// that decodes to exactly KEKSize bytes. Errors name the file and what is wrong with
// it, never its content.
func ReadKEKFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth.kek_file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("auth.kek_file %s: not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth.kek_file %s: accessible by group or others (mode %04o); run chmod 600 on it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth.kek_file: %w", err)
	}
	line := bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("auth.kek_file %s: empty; write 32 random bytes in standard base64 (head -c32 /dev/urandom | base64)", path)
	}
	if bytes.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("auth.kek_file %s: more than one line; want one line of standard base64", path)
	}
	kek, err := base64.StdEncoding.Strict().DecodeString(string(bytes.TrimSpace(line)))
	if err != nil {
		return nil, fmt.Errorf("auth.kek_file %s: not standard base64", path)
	}
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("auth.kek_file %s: decodes to %d bytes, want %d", path, len(kek), KEKSize)
	}
	return kek, nil
}

func newGCM(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealPrivateKey seals priv, the private half of key kid, under kek (AES-256-GCM,
// kid as additional data), as KeyRecord.Sealed keeps it: nonce || ciphertext.
func SealPrivateKey(kek []byte, kid string, priv ed25519.PrivateKey) ([]byte, error) {
	gcm, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(der)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, der, []byte(kid)), nil
}

// errSealed: a sealed private half that does not open under the KEK.
var errSealed = errors.New("sealed private key does not open under this key-encryption key (another auth.kek_file?)")

// openPrivateKey opens a sealed private half of key kid and checks it against pub.
func openPrivateKey(kek []byte, kid string, sealed []byte, pub ed25519.PublicKey) (ed25519.PrivateKey, error) {
	gcm, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return nil, errSealed
	}
	n := gcm.NonceSize()
	der, err := gcm.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, errSealed
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("sealed private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("sealed private key: not an Ed25519 key")
	}
	if !pub.Equal(priv.Public()) {
		return nil, errors.New("sealed private key does not match the recorded public key")
	}
	return priv, nil
}

// SealKeyFile returns rec with its private half, read from the key directory dir
// (kid.key, as a single node keeps it), sealed under kek: what moving a key from a
// single-node data dir into a store shared by nodes needs.
func SealKeyFile(kek []byte, dir string, rec KeyRecord) (KeyRecord, error) {
	if !ValidKID(rec.KID) || len(rec.PublicKey) != ed25519.PublicKeySize {
		return rec, fmt.Errorf("auth: malformed key record %q", rec.KID)
	}
	priv, err := readKeyFile(keyPath(dir, rec.KID), ed25519.PublicKey(rec.PublicKey))
	if err != nil {
		return rec, fmt.Errorf("auth: key %s: %w", rec.KID, err)
	}
	if rec.Sealed, err = SealPrivateKey(kek, rec.KID, priv); err != nil {
		return rec, fmt.Errorf("auth: seal key %s: %w", rec.KID, err)
	}
	return rec, nil
}
