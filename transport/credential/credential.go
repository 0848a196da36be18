// Package credential keeps a client's device credential fresh (SPEC §7.3): it reads
// the device credential file `syncctl token issue --device` wrote, holds a lock beside
// it so that one client at a time uses it, redeems the refresh secret at POST
// /api/token for a short-lived access token, and rotates ahead of the token's expiry
// (or at once when the server refuses the token). Each rotation rewrites the file
// atomically (0600) with the new secret BEFORE the new access token is used: a crash
// between the redemption and the rewrite leaves the old secret in the file, which the
// server still redeems, with the same answer, for its grace (until the new pair is
// first used, at most 60 s); a crash after it leaves the new secret.
package credential

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
)

// ErrInUse is Open's error when another client holds the credential's lock.
var ErrInUse = errors.New("device credential in use by another client")

// RefusedError is a refusal by the token endpoint that retrying cannot fix (the
// device was revoked or expired, or its secret was spent): the device must be
// enrolled again.
type RefusedError struct {
	Code, Description string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the server refused the device credential (%s: %s); enrol the device again with syncctl token issue --device", e.Code, e.Description)
}

// IsDeviceCredential reports whether a --token-file's content is a device credential
// (a JSON object) rather than a bare access token, in any encoding Text reads.
func IsDeviceCredential(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(Text(data)), []byte("{"))
}

// Options configure a Source. Path and HTTP are required; Endpoint is the server's
// POST /api/token URL. Step, if set, is called at each step of a rotation
// ("redeemed": the server answered, the file not yet rewritten; "saved": the file
// rewritten, the new token not yet in use), for crash tests.
type Options struct {
	Path     string
	Endpoint string
	HTTP     *http.Client
	Logger   *slog.Logger
	Step     func(step string)
}

// Source is one device credential in use. Create it with Open; Close releases the lock.
type Source struct {
	o    Options
	lock *os.File

	mu     sync.Mutex // one rotation at a time; guards the fields below
	fields map[string]json.RawMessage
	secret string
	last   time.Time // when the last rotation succeeded
	// unsaved is a pair redeemed whose secret could not be written to the file yet
	// (nil: none), redeemed at unsavedAt: the next Refresh saves it instead of
	// presenting the spent secret again.
	unsaved   *answer
	unsavedAt time.Time

	kick chan struct{}
}

// LockPath is the lock file beside a credential file.
func LockPath(path string) string { return path + ".lock" }

// Open reads the credential at o.Path and takes its lock (ErrInUse if another client
// holds it).
func Open(o Options) (*Source, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTP == nil || o.Path == "" {
		return nil, errors.New("credential: Path and HTTP are required")
	}
	data, err := os.ReadFile(o.Path)
	if err != nil {
		return nil, fmt.Errorf("read device credential: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(Text(data), &fields); err != nil {
		return nil, fmt.Errorf("device credential %s: %w", o.Path, err)
	}
	var secret string
	if err := json.Unmarshal(fields["refresh_token"], &secret); err != nil || secret == "" {
		return nil, fmt.Errorf("device credential %s has no refresh_token", o.Path)
	}
	lock, err := os.OpenFile(LockPath(o.Path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("device credential lock: %w", err)
	}
	if err := fsys.LockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w: %s is locked (%s); run one client per device credential, or enrol another device", ErrInUse, o.Path, LockPath(o.Path))
	}
	return &Source{o: o, lock: lock, fields: fields, secret: secret, kick: make(chan struct{}, 1)}, nil
}

// Close releases the lock.
func (s *Source) Close() error { return s.lock.Close() }

// Server is the server URL recorded in the credential ("" if none).
func (s *Source) Server() string {
	var v string
	_ = json.Unmarshal(s.fields["server"], &v)
	return v
}

// answer is the token endpoint's success body.
type answer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Refresh rotates once: it redeems the current secret, rewrites the file with the new
// one, and returns the new access token and its expiry. Errors: *RefusedError when
// the server refuses the grant, others are transient. When the file cannot be
// written, the new pair is kept and the next call writes it without redeeming again:
// the old secret is spent, redeemable only for the server's grace (at most 60 s),
// after which presenting it revokes the device. (Should the process end before the
// write succeeds, the file keeps the old secret, as after a crash.)
func (s *Source) Refresh(ctx context.Context) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	access, exp, err := s.rotate(ctx)
	if err == nil && !time.Now().Before(exp) { // an unsaved pair saved too late for its token
		return s.rotate(ctx)
	}
	return access, exp, err
}

// rotate is Refresh under s.mu, without the second rotation.
func (s *Source) rotate(ctx context.Context) (string, time.Time, error) {
	a, at := s.unsaved, s.unsavedAt
	if a == nil {
		got, err := s.redeem(ctx)
		if err != nil {
			return "", time.Time{}, err
		}
		a, at = &got, time.Now()
		s.step("redeemed")
	}
	if err := s.save(a.RefreshToken); err != nil {
		s.unsaved, s.unsavedAt = a, at
		return "", time.Time{}, fmt.Errorf("save the rotated device credential: %w", err)
	}
	s.unsaved = nil
	s.step("saved")
	s.last = time.Now()
	return a.AccessToken, at.Add(time.Duration(a.ExpiresIn) * time.Second), nil
}

func (s *Source) step(name string) {
	if s.o.Step != nil {
		s.o.Step(name)
	}
}

func (s *Source) redeem(ctx context.Context) (answer, error) {
	var a answer
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.secret}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.Endpoint, strings.NewReader(form))
	if err != nil {
		return a, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.o.HTTP.Do(req)
	if err != nil {
		return a, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := json.Unmarshal(body, &a); err != nil || a.AccessToken == "" || a.RefreshToken == "" {
			return a, errors.New("token endpoint: malformed answer")
		}
		return a, nil
	case resp.StatusCode == http.StatusBadRequest:
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		if e.Error == "invalid_grant" {
			return a, &RefusedError{Code: e.Error, Description: e.Description}
		}
		return a, fmt.Errorf("token endpoint: %s: %s", e.Error, e.Description)
	case resp.StatusCode == http.StatusTooManyRequests:
		return a, fmt.Errorf("token endpoint: rate limited (retry after %ss)", resp.Header.Get("Retry-After"))
	}
	return a, fmt.Errorf("token endpoint: HTTP %d", resp.StatusCode)
}

// save rewrites the credential file with secret, atomically and 0600, keeping every
// other field as it was.
func (s *Source) save(secret string) error {
	raw, _ := json.Marshal(secret)
	fields := make(map[string]json.RawMessage, len(s.fields))
	for k, v := range s.fields {
		fields[k] = v
	}
	fields["refresh_token"] = raw
	data, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return err
	}
	if err := fsys.WriteFileAtomic(s.o.Path, append(data, '\n'), 0o600); err != nil {
		return err
	}
	s.fields, s.secret = fields, secret
	return nil
}

// Kick asks Keep to rotate now (the server refused the access token: 401 or a socket
// closed 4001/4004/4005). A kick within minGap of the last rotation is deferred to
// minGap after it, so that a burst of refusals costs one rotation.
func (s *Source) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// minGap is the least time between two rotations triggered by Kick.
const minGap = 2 * time.Second

// Keep rotates ahead of expiry until ctx ends: at two thirds of each access token's
// lifetime, or on Kick, retrying transient failures with backoff (1 s doubling to
// 30 s). use receives each new access token once the file holds the new secret. It
// returns nil when ctx ends, or the *RefusedError that ended the credential.
func (s *Source) Keep(ctx context.Context, exp time.Time, use func(access string)) error {
	backoff := time.Second
	for {
		wait := time.Until(exp) * 2 / 3
		timer := time.NewTimer(max(wait, 0))
		kicked := false
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		case <-s.kick:
			timer.Stop()
			kicked = true
		}
		if d := minGap - s.sinceLast(); kicked && d > 0 {
			exp = time.Now().Add(d * 3 / 2) // defer the kick to minGap after the last rotation
			continue
		}
		access, newExp, err := s.Refresh(ctx)
		var refused *RefusedError
		switch {
		case errors.As(err, &refused):
			return err
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			s.o.Logger.Warn("device token refresh failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			exp = time.Now() // retry at once after the backoff
			continue
		}
		backoff = time.Second
		exp = newExp
		use(access)
		s.o.Logger.Info("device token refreshed", "expires_in", strconv.Itoa(int(time.Until(exp).Seconds()))+"s")
	}
}

func (s *Source) sinceLast() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.last)
}
