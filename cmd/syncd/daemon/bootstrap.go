package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// bootstrap creates tenant "default" and its token file on the first start of the
// embedded default: the first start of syncd on this data dir (Node.Started), or one
// that stopped before finishing it. A later start creates nothing: a tenant "default"
// deleted since stays deleted. It returns the token file's path ("" if there is none
// to show) and whether it was written now. The token itself is never printed or
// logged.
func (d *Daemon) bootstrap(ctx context.Context) (string, bool, error) {
	tokenFile := filepath.Join(d.cfg.DataDir, DefaultTokenFile)
	_, err := d.node.Tenants.Get(ctx, DefaultTenant)
	exists := err == nil
	if err != nil && protocol.CodeOf(err) != protocol.CodeNotFound {
		return "", false, err
	}
	_, statErr := os.Stat(tokenFile)
	if exists && statErr == nil {
		return tokenFile, false, nil
	}
	started, err := d.node.Started(ctx)
	if err != nil || started {
		return "", false, err
	}
	if !exists {
		if _, err := d.node.Tenants.Create(ctx, DefaultTenant, tenants.Options{}); err != nil {
			return "", false, err
		}
	}
	token, _, err := d.node.Auth.IssueTenantToken(ctx, DefaultTenant, DefaultTenant, auth.RoleWrite, DefaultTokenTTL)
	if err != nil {
		return "", false, err
	}
	if err := writeSecretFile(tokenFile, []byte(token+"\n")); err != nil {
		return "", false, err
	}
	d.logger.Info("bootstrapped tenant and token file", slog.String("tenant", DefaultTenant), slog.String("token_file", tokenFile))
	return tokenFile, true, nil
}

// checkTokenFileMode warns when the token file syncd wrote (data_dir/default.token)
// is there but no longer mode 0600: someone else on the machine may read a token that
// writes to tenant default. syncd does not change the mode back itself (the owner may
// have meant it); it says so at every start. Windows has no such modes.
func (d *Daemon) checkTokenFileMode() {
	if runtime.GOOS == "windows" {
		return
	}
	path := filepath.Join(d.cfg.DataDir, DefaultTokenFile)
	fi, err := os.Lstat(path)
	if err != nil {
		return
	}
	switch {
	case !fi.Mode().IsRegular():
		d.logger.Warn("token file is no longer the regular file syncd wrote; check it", slog.String("token_file", path), slog.String("mode", fi.Mode().String()))
	case fi.Mode().Perm()&0o077 != 0:
		d.logger.Warn("token file has lost mode 0600: group or others may read the token; run chmod 600 on it",
			slog.String("token_file", path), slog.String("mode", fmt.Sprintf("%04o", fi.Mode().Perm())))
	}
}

// writeSecretFile writes data to a file of mode 0600 atomically and durably (a reader
// never sees half a token; see fsys.WriteFileAtomic).
func writeSecretFile(path string, data []byte) error {
	return fsys.WriteFileAtomic(path, data, 0o600)
}

// staleToken returns why the token in tokenFile no longer works ("token expired",
// "token revoked", ...), or "" when it works or cannot be read (the client then says
// why). Never the token itself.
func (d *Daemon) staleToken(ctx context.Context, tokenFile string) string {
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return ""
	}
	token, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	_, err = d.node.Auth.Verify(ctx, strings.TrimSpace(token), auth.AudienceTenant)
	var pe *protocol.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe) && pe.Message != "":
		return pe.Message
	default:
		return "not a tenant token"
	}
}

// printHint tells the user where the token is and how to start a client: a command
// line that works pasted into a shell in syncd's working directory (see clientLine).
// stale, when not "", is why the token in the file no longer works: the hint then
// says so and how to replace the file first.
func printHint(w io.Writer, dataDir, addr, tokenFile string, created, useTLS bool, stale string) {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	lookPath, cwd := lookPathAndCwd()
	switch {
	case created:
		fmt.Fprintf(w, "syncd: created tenant %q and a write token valid for 30 days in %s (mode 0600)\n", DefaultTenant, tokenFile)
	case stale != "":
		q := shellQuote(tokenFile)
		ctl, _ := commandFor(CtlBinary, lookPath, cwd)
		fmt.Fprintf(w, "syncd: the token in %s no longer works (%s); replace it with:\n  rm %s && %s --data %s token issue --tenant %s --subject %s --role write --out %s\n",
			tokenFile, stale, q, ctl, shellQuote(dataDir), DefaultTenant, DefaultTenant, q)
	default:
		fmt.Fprintf(w, "syncd: token for tenant %q is in %s\n", DefaultTenant, tokenFile)
	}
	line, note := clientLine(lookPath, cwd, scheme+"://"+addr, tokenFile)
	fmt.Fprintf(w, "start a client in this directory with:\n  %s\n", line)
	if note != "" {
		fmt.Fprintf(w, "(%s)\n", note)
	}
}

// printWebHint tells the user where the web app is and how to make a sign-in link for
// it (SPEC §7.2), a command quoted for the shell like the client's (clientLine) that
// runs syncctl as ctl (commandFor); the link itself holds a token, so it is never
// printed here.
func printWebHint(w io.Writer, cfg *config.Config, addr string, useTLS bool, ctl string) {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	webURL := scheme + "://" + addr
	if cfg.Web.PublicURL != "" {
		webURL = strings.TrimRight(cfg.Web.PublicURL, "/")
	}
	cmd := ctl + " --data " + shellQuote(cfg.DataDir) + " token issue --tenant " + DefaultTenant + " --subject you --role write --link"
	// syncctl without --config derives PUBLIC_URL from the embedded default's listen
	// address; name the real one when it differs (SYNCD_LISTEN, a port of 0).
	if derived, _ := config.Default().PublicURL(); derived != webURL {
		cmd += " --public-url " + shellQuote(webURL)
	}
	fmt.Fprintf(w, "open the web app at %s/ and sign in with a link made by:\n  %s\n", webURL, cmd)
}

// makeDataDir creates the data dir 0700 whatever the umask.
func makeDataDir(dir string) error {
	if dir == "" {
		return errors.New("data_dir is empty")
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("data_dir %s is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	return os.Chmod(dir, 0o700)
}

// LockFile is the file in the data dir that a running syncd holds locked.
const LockFile = "syncd.lock"

// lockDataDir takes an exclusive lock on dir's LockFile for as long as the returned
// file stays open, or fails when another syncd holds it: two servers on one SQLite
// data dir would each answer preconditions, quotas and tree rules from their own
// memory of the other's commits (syncctl's local mode, which changes only tenants,
// tokens and keys, takes no lock). The lock goes with the process, however it ends.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: cannot open its lock file: %w", dir, err)
	}
	if err := fsys.LockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("data_dir %s is in use by another syncd (%s is locked: %v); stop that one first, or give this one its own data_dir", dir, path, err)
	}
	return f, nil
}
