package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Tuning of the manual-mode reloader; tests shorten them.
var (
	// reloadDebounce is how long the reloader waits after the last file event before
	// loading: editors and cert-manager write the cert and the key in separate steps.
	reloadDebounce = 250 * time.Millisecond
	// reloadPoll is the interval of a slow poll of the files' size and mtime, a safety
	// net for missed events (directories replaced, network file systems).
	reloadPoll = 30 * time.Second
)

// reloader holds the current certificate of manual mode and replaces it when the
// files change.
type reloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
	stamp             fileStamp // of the pair now served; only the run goroutine writes it after start

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fileStamp identifies the state of the two files cheaply.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func statPair(certFile, keyFile string) (fileStamp, error) {
	ci, err := os.Stat(certFile)
	if err != nil {
		return fileStamp{}, err
	}
	ki, err := os.Stat(keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{ci.ModTime(), ki.ModTime(), ci.Size(), ki.Size()}, nil
}

// newReloader loads the pair (an error names the field) and starts watching.
func newReloader(ctx context.Context, certFile, keyFile string, logger *slog.Logger) (*reloader, error) {
	r := &reloader{certFile: certFile, keyFile: keyFile, logger: logger}
	st, _ := statPair(certFile, keyFile)
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("config: tls.cert_file: cannot load the certificate and key (tls.key_file): %w", err)
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		logger.Error("tls certificate has expired", "not_after", cert.Leaf.NotAfter, "subject", cert.Leaf.Subject.String())
	}
	r.cur.Store(cert)
	r.stamp = st
	logger.Info("tls certificate loaded", "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter, "serial", cert.Leaf.SerialNumber.String())

	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("cannot watch certificate files: %w", err)
	}
	dirs := map[string]bool{filepath.Dir(certFile): true, filepath.Dir(keyFile): true}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return nil, fmt.Errorf("cannot watch certificate directory: %w", err)
		}
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(1)
	go r.run(ctx, w)
	return r, nil
}

func (r *reloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := r.cur.Load()
	if c == nil {
		return nil, errClosed
	}
	return c, nil
}

func (r *reloader) close() {
	r.cancel()
	r.wg.Wait()
}

// run reacts to file events (debounced) and polls slowly until ctx ends.
func (r *reloader) run(ctx context.Context, w *fsnotify.Watcher) {
	defer r.wg.Done()
	defer w.Close()
	names := map[string]bool{
		filepath.Clean(r.certFile): true,
		filepath.Clean(r.keyFile):  true,
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	poll := time.NewTicker(reloadPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			debounce.Stop()
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			// React to the files themselves and to Kubernetes-style "..data" symlink
			// swaps in the same directory.
			base := filepath.Base(ev.Name)
			if names[filepath.Clean(ev.Name)] || (len(base) > 2 && base[:2] == "..") {
				debounce.Reset(reloadDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			r.logger.Warn("certificate watcher error; checking files", "err", err)
			debounce.Reset(reloadDebounce)
		case <-debounce.C:
			retryAt(debounce, r.reload(false))
		case <-poll.C:
			retryAt(debounce, r.reload(true))
		}
	}
}

// retryAt sets timer to fire just after at (a new certificate's not_before), when at
// is not zero; a file event before then resets it earlier, which reload answers alike.
func retryAt(timer *time.Timer, at time.Time) {
	if !at.IsZero() {
		timer.Reset(time.Until(at) + 10*time.Millisecond)
	}
}

// reload loads the pair again and swaps it in if it is good and different (any
// certificate of the chain: an intermediate added to the same leaf counts). With
// onlyIfChanged, nothing happens while the files' size and mtime are unchanged. It
// returns when to look again although the files stay the same: the not_before of a new
// certificate not valid yet (zero otherwise), which is then served from that moment.
func (r *reloader) reload(onlyIfChanged bool) time.Time {
	st, statErr := statPair(r.certFile, r.keyFile)
	if onlyIfChanged && statErr == nil && st == r.stamp {
		return time.Time{}
	}
	r.stamp = st // do not log the same bad pair again on every poll
	cert, err := loadPair(r.certFile, r.keyFile)
	if err != nil {
		r.logger.Error("new tls certificate rejected, keeping the current one", "err", err)
		return time.Time{}
	}
	if old := r.cur.Load(); old != nil && slices.EqualFunc(old.Certificate, cert.Certificate, bytes.Equal) {
		return time.Time{}
	}
	now := time.Now()
	if now.After(cert.Leaf.NotAfter) {
		r.logger.Error("new tls certificate is not valid now (expired), keeping the current one",
			"not_before", cert.Leaf.NotBefore, "not_after", cert.Leaf.NotAfter)
		return time.Time{}
	}
	if now.Before(cert.Leaf.NotBefore) {
		r.logger.Warn("new tls certificate is not valid yet, keeping the current one until its not_before",
			"not_before", cert.Leaf.NotBefore, "not_after", cert.Leaf.NotAfter)
		return cert.Leaf.NotBefore
	}
	r.cur.Store(cert)
	r.logger.Info("tls certificate reloaded", "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter, "serial", cert.Leaf.SerialNumber.String())
	return time.Time{}
}

// loadPair reads and checks a certificate and key pair.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	return &cert, nil
}
