package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// KeyInfo describes one signing key. RetiredAt is nil for a live key; Signing is true
// for the one key that signs new tokens (the newest live key whose private half this
// process holds: from the key directory, or sealed in the store under the KEK).
type KeyInfo struct {
	KID       string     `json:"kid"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
	Signing   bool       `json:"signing"`
}

// signingKey is a live key; priv is nil when its private half is missing or unusable
// (it verifies only).
type signingKey struct {
	kid     string
	pub     ed25519.PublicKey
	priv    ed25519.PrivateKey
	created time.Time
}

// keySet is an immutable snapshot of the key table, swapped atomically.
type keySet struct {
	fingerprint string
	live        map[string]*signingKey
	all         []KeyInfo
	signer      *signingKey
	jwks        []byte
	unopened    int // live keys whose sealed private half did not open under the KEK
}

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidKID reports whether kid has the shape of a key id (so it is safe in a file name).
func ValidKID(kid string) bool { return kidPattern.MatchString(kid) }

// prepareKeyDir creates dir 0700 if missing and refuses a directory, or any file in
// it, that group or others may read.
func prepareKeyDir(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("auth.key_dir: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("auth.key_dir: %w", err)
		}
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("auth.key_dir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("auth.key_dir %s: not a directory", dir)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("auth.key_dir %s: accessible by group or others (mode %04o); run chmod 700 on it", dir, st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("auth.key_dir: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("auth.key_dir: %w", err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("auth.key_dir: %s is accessible by group or others (mode %04o); run chmod 600 on it", filepath.Join(dir, e.Name()), info.Mode().Perm())
		}
	}
	return nil
}

// kidOf derives a key id from the RFC 7638 thumbprint of the public key.
func kidOf(pub ed25519.PublicKey) string {
	doc := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(doc))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:22]
}

func writeKeyFile(path string, priv ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func readKeyFile(path string, pub ed25519.PublicKey) (ed25519.PrivateKey, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: accessible by group or others (mode %04o)", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	if !pub.Equal(priv.Public()) {
		return nil, fmt.Errorf("%s: private key does not match the recorded public key", path)
	}
	return priv, nil
}

// keyring is the signing-key job: the key records in the store, the private halves
// in the key directory (kek nil) or sealed in the store under kek, and the current
// snapshot (live keys, signer, JWKS).
type keyring struct {
	store KeyStore
	dir   string
	kek   []byte
	log   *slog.Logger
	now   func() time.Time
	set   atomic.Pointer[keySet]

	lastForced atomic.Int64 // time.Now().UnixNano() of reloadForUnknown's last load
}

// unknownReloadGap spaces the key reloads that tokens naming unknown kids trigger, so
// that a stream of forged kids costs the store at most one read per gap.
const unknownReloadGap = 50 * time.Millisecond

// reloadForUnknown reloads the keys for a token naming a kid not in the snapshot (a
// key rotated by another process since the last poll), at most once per
// unknownReloadGap; it reports whether it reloaded.
func (r *keyring) reloadForUnknown(ctx context.Context) bool {
	now, last := time.Now().UnixNano(), r.lastForced.Load()
	if now-last < int64(unknownReloadGap) || !r.lastForced.CompareAndSwap(last, now) {
		return false
	}
	if err := r.load(ctx); err != nil {
		r.log.Warn("reloading keys for an unknown kid", "err", err)
		return false
	}
	return true
}

func keyPath(dir, kid string) string { return filepath.Join(dir, kid+".key") }

func (r *keyring) path(kid string) string { return keyPath(r.dir, kid) }

// private returns the private half of the live key k described by rec: the one
// already held in old, else the sealed half in rec (with a KEK) or the key file
// (without). nil when there is none or it is unusable (logged); opened reports
// whether a sealed half that was present opened.
func (r *keyring) private(rec KeyRecord, k *signingKey, old *keySet) (priv ed25519.PrivateKey, opened bool) {
	if old != nil && old.live[rec.KID] != nil && old.live[rec.KID].priv != nil {
		return old.live[rec.KID].priv, true
	}
	if r.kek != nil {
		if len(rec.Sealed) == 0 {
			return nil, true
		}
		priv, err := openPrivateKey(r.kek, rec.KID, rec.Sealed, k.pub)
		if err != nil {
			r.log.Error("sealed signing key unusable; key verifies only", "kid", rec.KID, "err", err)
			return nil, false
		}
		return priv, true
	}
	priv, err := readKeyFile(r.path(rec.KID), k.pub)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.log.Error("signing key file unusable; key verifies only", "kid", rec.KID, "err", err)
	}
	return priv, true
}

// load rebuilds the key snapshot from the store when the records changed.
func (r *keyring) load(ctx context.Context) error {
	recs, err := r.store.Keys(ctx)
	if err != nil {
		return internal("load keys", err)
	}
	var fp strings.Builder
	for _, k := range recs {
		fmt.Fprintf(&fp, "%s:%v;", k.KID, k.RetiredAt != nil)
	}
	old := r.set.Load()
	if old != nil && old.fingerprint == fp.String() {
		return nil
	}
	set := &keySet{fingerprint: fp.String(), live: make(map[string]*signingKey)}
	for _, rec := range recs {
		info := KeyInfo{KID: rec.KID, CreatedAt: rec.CreatedAt.UTC()}
		if rec.RetiredAt != nil {
			t := rec.RetiredAt.UTC()
			info.RetiredAt = &t
			set.all = append(set.all, info)
			continue
		}
		set.all = append(set.all, info)
		if len(rec.PublicKey) != ed25519.PublicKeySize || !ValidKID(rec.KID) {
			r.log.Error("ignoring malformed key record", "kid", rec.KID)
			continue
		}
		k := &signingKey{kid: rec.KID, pub: ed25519.PublicKey(rec.PublicKey), created: info.CreatedAt}
		priv, opened := r.private(rec, k, old)
		if k.priv = priv; !opened {
			set.unopened++
		}
		set.live[rec.KID] = k
		if k.priv != nil {
			set.signer = k // records are in creation order: the last one wins
		}
	}
	for i := range set.all {
		set.all[i].Signing = set.signer != nil && set.all[i].KID == set.signer.kid
	}
	set.jwks = buildJWKS(set)
	r.set.Store(set)
	return nil
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func buildJWKS(set *keySet) []byte {
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, info := range set.all {
		k := set.live[info.KID]
		if k == nil {
			continue
		}
		doc.Keys = append(doc.Keys, jwk{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.pub),
			Kid: k.kid, Alg: "EdDSA", Use: "sig",
		})
	}
	b, _ := json.Marshal(doc)
	return b
}

// rotate creates a new Ed25519 key (crypto/rand), writes its private half to the key
// directory (0600), or seals it under the KEK, and records it.
func (r *keyring) rotate(ctx context.Context) (KeyInfo, error) {
	var (
		pub  ed25519.PublicKey
		priv ed25519.PrivateKey
		kid  string
	)
	// A kid is typed on command lines (`syncctl key retire KID`): one starting with
	// '-' would read as a flag there, so such a key is drawn again (1 in 64).
	for kid == "" || strings.HasPrefix(kid, "-") {
		var err error
		if pub, priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return KeyInfo{}, internal("generate key", err)
		}
		kid = kidOf(pub)
	}
	rec := KeyRecord{KID: kid, PublicKey: []byte(pub), CreatedAt: r.now()}
	if r.kek != nil {
		var err error
		if rec.Sealed, err = SealPrivateKey(r.kek, kid, priv); err != nil {
			return KeyInfo{}, internal("seal key", err)
		}
	} else if err := writeKeyFile(r.path(kid), priv); err != nil {
		return KeyInfo{}, internal("write key", err)
	}
	// The store keeps creation times strictly increasing even if the clock stalls.
	if err := r.store.AddKey(ctx, rec); err != nil {
		if r.kek == nil {
			os.Remove(r.path(kid))
		}
		return KeyInfo{}, internal("record key", err)
	}
	if err := r.load(ctx); err != nil {
		return KeyInfo{}, err
	}
	r.log.Info("signing key created", "kid", kid)
	for _, k := range r.set.Load().all {
		if k.KID == kid {
			return k, nil
		}
	}
	return KeyInfo{KID: kid, CreatedAt: rec.CreatedAt.UTC()}, nil
}

// retire retires kid in the store (which drops a sealed private half) and removes its
// private file.
func (r *keyring) retire(ctx context.Context, kid string) error {
	if !ValidKID(kid) {
		return protocol.Errorf(protocol.CodeNotFound, "no such key")
	}
	retired, err := r.store.RetireKey(ctx, kid, r.now())
	switch {
	case errors.Is(err, ErrNoRecord):
		return protocol.Errorf(protocol.CodeNotFound, "no such key: %s", kid)
	case errors.Is(err, ErrLastLiveKey):
		return protocol.Errorf(protocol.CodeConflict, "key %s is the only live key; run key rotate first", kid)
	case err != nil:
		return internal("retire key", err)
	case !retired:
		return nil
	}
	if r.kek == nil {
		if err := os.Remove(r.path(kid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("could not remove retired key file", "kid", kid, "err", err)
		}
	}
	r.log.Info("signing key retired", "kid", kid)
	return r.load(ctx)
}

// JWKS returns the JSON Web Key Set of the live (not retired) keys:
// {"keys":[{"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"alg":"EdDSA","use":"sig"}]}.
// The caller must not modify the returned slice.
func (s *Service) JWKS() []byte { return s.keys.set.Load().jwks }

// RotateKey creates a new Ed25519 key (crypto/rand), writes its private half to the key
// directory (0600), or with a KEK seals it into the store, and records it; it signs every token issued from now on, while the
// older live keys still verify.
func (s *Service) RotateKey(ctx context.Context) (KeyInfo, error) { return s.keys.rotate(ctx) }

// ListKeys returns every key, retired ones included, oldest first.
func (s *Service) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	if err := s.keys.load(ctx); err != nil {
		return nil, err
	}
	all := s.keys.set.Load().all
	return append([]KeyInfo(nil), all...), nil
}

// RetireKey retires a key: tokens it signed stop verifying (within a second in every
// process running Run) and its private half is removed (key file or sealed copy). Retiring the last live key is
// refused (conflict): rotate first. Unknown kid: not_found; already retired: no-op.
func (s *Service) RetireKey(ctx context.Context, kid string) error { return s.keys.retire(ctx, kid) }
