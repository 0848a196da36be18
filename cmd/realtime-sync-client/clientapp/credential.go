package clientapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/syncspace/syncspace/transport/credential"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// credentialStep is the Step hook of device credentials: nil in the program; the
// crash tests set it to end the process at a chosen step of a rotation.
var credentialStep func(step string)

// pendingToken stands in for the access token of a device credential while the
// client is built: the first rotation replaces it before any request is made.
const pendingToken = "device-credential-pending"

// isDeviceFile reports whether the --token-file at path holds a device credential.
func isDeviceFile(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read token file: %w", err)
	}
	return credential.IsDeviceCredential(data), nil
}

// device is a device credential in use by this client.
type device struct {
	src *credential.Source
	exp time.Time
}

// openDevice takes the credential's lock (a second client on one file is refused),
// redeems it once and puts the access token into cl.
func openDevice(ctx context.Context, path string, cl *syncclient.Client, log *slog.Logger) (*device, error) {
	src, err := credential.Open(credential.Options{
		Path: path, Endpoint: cl.BaseURL().String() + "/api/token", HTTP: cl.HTTPClient(), Logger: log, Step: credentialStep,
	})
	if err != nil {
		return nil, err
	}
	access, exp, err := src.Refresh(ctx)
	if err != nil {
		src.Close()
		return nil, err
	}
	cl.SetToken(access)
	cl.OnAuthFailure(src.Kick)
	log.Info("device credential in use", "file", path, "token_expires_in", time.Until(exp).Round(time.Second).String())
	return &device{src: src, exp: exp}, nil
}

// keep refreshes the access token until ctx ends; a refusal by the server (revoked or
// expired device) is logged and ends the client through stop.
func (d *device) keep(ctx context.Context, use func(string), stop context.CancelCauseFunc, log *slog.Logger) {
	if err := d.src.Keep(ctx, d.exp, use); err != nil {
		log.Error("device credential refused", "err", err)
		stop(err)
	}
}

// deviceFailure prints why a device credential could not be used and returns the exit
// code.
func deviceFailure(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "realtime-sync-client: %v\n", err)
	if errors.Is(err, credential.ErrInUse) {
		return ExitUsage
	}
	return ExitFailure
}

// chooseToken picks the token from --token-file, --token or SYNC_TOKEN; devFile is true
// when the token file is a device credential (token is then a placeholder). On a
// failure it prints why and ok is false.
func chooseToken(c *config, log *slog.Logger, stderr io.Writer) (token string, devFile, ok bool) {
	switch {
	case c.tokenFile != "":
		// A file that cannot be read as a device credential is read as a token, which
		// reports the error.
		var err error
		if devFile, _ = isDeviceFile(c.tokenFile); devFile {
			token = pendingToken
		} else if token, err = readToken(c.tokenFile); err != nil {
			fmt.Fprintf(stderr, "realtime-sync-client: %v\n", err)
			return "", false, false
		}
	case c.token != "":
		token = c.token
		log.Warn("--token is visible in the process list; prefer --token-file or SYNC_TOKEN")
	default:
		token = strings.TrimSpace(os.Getenv("SYNC_TOKEN"))
	}
	if token == "" {
		fmt.Fprintln(stderr, "realtime-sync-client: a token is required: --token-file FILE, --token T or SYNC_TOKEN")
		return "", false, false
	}
	return token, devFile, true
}
