// Package blobkey is what the content-addressed blob stores (tenants/s3blobs,
// tenants/dirblobs) share: the key layout t/<tenant id>/sha256/<h[0:2]>/<h>, its
// checks, the errors they return, and the reader that verifies content while it is
// stored.
package blobkey

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"strings"
	"time"
)

// Errors of the blob stores, matched with errors.Is.
var (
	// ErrNotFound: no blob under that tenant and hash.
	ErrNotFound = errors.New("blob not found")
	// ErrMismatch: the content did not have the announced SHA-256 or size; nothing
	// was stored.
	ErrMismatch = errors.New("blob content does not match its hash or size")
	// ErrBadKey: a tenant id or hash that is not a valid key part.
	ErrBadKey = errors.New("bad blob key")
)

// Info describes a stored blob.
type Info struct {
	TenantID string
	SHA256   string // lowercase hex
	Size     int64
	Modified time.Time // when the store wrote it (the GC's grace period starts there)
}

var (
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hashRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Check validates a tenant id and a lowercase hex SHA-256.
func Check(tenantID, sha256hex string) error {
	if !tenantRE.MatchString(tenantID) {
		return fmt.Errorf("%w: tenant id %q", ErrBadKey, tenantID)
	}
	if !hashRE.MatchString(sha256hex) {
		return fmt.Errorf("%w: sha256 %q", ErrBadKey, sha256hex)
	}
	return nil
}

// TenantPrefix is the prefix of every blob key of a tenant: "t/<id>/sha256/".
func TenantPrefix(tenantID string) (string, error) {
	if !tenantRE.MatchString(tenantID) {
		return "", fmt.Errorf("%w: tenant id %q", ErrBadKey, tenantID)
	}
	return "t/" + tenantID + "/sha256/", nil
}

// Key returns "t/<tenant id>/sha256/<h[0:2]>/<h>" (slash-separated, also the relative
// path of a dir store).
func Key(tenantID, sha256hex string) (string, error) {
	if err := Check(tenantID, sha256hex); err != nil {
		return "", err
	}
	return "t/" + tenantID + "/sha256/" + sha256hex[:2] + "/" + sha256hex, nil
}

// Parse returns the tenant id and hash of a key written by Key.
func Parse(key string) (tenantID, sha256hex string, err error) {
	parts := strings.Split(key, "/")
	if len(parts) != 5 || parts[0] != "t" || parts[2] != "sha256" || len(parts[4]) < 2 || parts[3] != parts[4][:2] {
		return "", "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	if err := Check(parts[1], parts[4]); err != nil {
		return "", "", err
	}
	return parts[1], parts[4], nil
}

// Verifier passes a reader through while hashing and counting it.
type Verifier struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want string
	size int64
	eof  bool
}

// NewVerifier reads at most size+1 bytes of r (one more than announced, so that
// Verify sees a longer content).
func NewVerifier(r io.Reader, sha256hex string, size int64) *Verifier {
	return &Verifier{r: io.LimitReader(r, size+1), h: sha256.New(), want: sha256hex, size: size}
}

func (v *Verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		v.eof = true
	}
	return n, err
}

// Ended reports whether the source was read to its end (or to size+1 bytes): then
// Verify reads nothing more. A store whose upload failed asks it to tell a short
// content (ErrMismatch) from a failure of its own.
func (v *Verifier) Ended() bool { return v.eof }

// Verify drains what is left up to the limit and reports ErrMismatch unless exactly
// size bytes hashing to sha256hex were read.
func (v *Verifier) Verify() error {
	if _, err := io.Copy(io.Discard, v); err != nil {
		return err
	}
	if v.n != v.size {
		return fmt.Errorf("%w: %d bytes, announced %d", ErrMismatch, v.n, v.size)
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
		return fmt.Errorf("%w: sha256 %s, announced %s", ErrMismatch, got, v.want)
	}
	return nil
}
