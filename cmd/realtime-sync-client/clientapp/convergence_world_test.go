//go:build linux

package clientapp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// convClient is one of the three folders and its client (nil while stopped).
type convClient struct {
	name string
	dir  string
	c    *client
}

// world is one randomized run: the server, the folders, the random source and what
// was written.
type world struct {
	t         *testing.T
	rng       *rand.Rand
	srv       *server
	tok       string
	cs        []*convClient
	trash     string // outside every folder, same file system: temp files and deleted things
	led       *ledger
	mu        sync.Mutex
	ops       []string
	op        int
	tmpN      int
	stopped   int // index of the stopped client, -1: none
	restartAt int
}

func newWorld(t *testing.T, rng *rand.Rand) *world {
	srv := startServer(t)
	w := &world{t: t, rng: rng, srv: srv, tok: writeToken(t, srv.Token), trash: t.TempDir(), led: newLedger(), stopped: -1}
	for _, n := range []string{"A", "B", "C"} {
		cc := &convClient{name: n, dir: t.TempDir()}
		cc.c = startClient(t, n, srv.URL, w.tok, cc.dir, "--realtime")
		w.cs = append(w.cs, cc)
	}
	return w
}

// logf records one operation for the failure message.
func (w *world) logf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops = append(w.ops, fmt.Sprintf("%3d ", w.op)+fmt.Sprintf(format, args...))
}

func (w *world) opLog() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.ops, "\n")
}

// pause waits a random while between operations: mostly short (operations race with
// the clients), sometimes long enough for a change to reach every folder.
func (w *world) pause() {
	switch r := w.rng.Intn(10); {
	case r < 5:
		time.Sleep(time.Duration(w.rng.Intn(30)) * time.Millisecond)
	case r < 9:
		time.Sleep(time.Duration(50+w.rng.Intn(250)) * time.Millisecond)
	default:
		time.Sleep(time.Duration(500+w.rng.Intn(1000)) * time.Millisecond)
	}
}

// checkRunning fails the test if a running client exited by itself.
func (w *world) checkRunning() {
	for _, cc := range w.cs {
		if cc.c == nil {
			continue
		}
		select {
		case code := <-cc.c.done:
			cc.c.code, cc.c.cancel = code, nil
			w.t.Errorf("client %s exited by itself with %d", cc.name, code)
		default:
		}
	}
}

// stopClient stops client i (offline edits follow) and restarts it a few operations on.
func (w *world) stopClient(i int) {
	cc := w.cs[i]
	if code := cc.c.stop(); code != 0 {
		w.t.Errorf("client %s stopped with exit %d", cc.name, code)
	}
	cc.c = nil
	w.stopped, w.restartAt = i, w.op+3+w.rng.Intn(10)
	w.logf("stop %s until op %d", cc.name, w.restartAt)
}

func (w *world) restartStopped() {
	if w.stopped < 0 {
		return
	}
	cc := w.cs[w.stopped]
	cc.c = startClient(w.t, cc.name, w.srv.URL, w.tok, cc.dir, "--realtime")
	w.logf("restart %s", cc.name)
	w.stopped = -1
}

// content returns a new content, unique unless empty: mostly a short text, sometimes
// empty, sometimes a few hundred KiB.
func (w *world) content(what string) []byte {
	w.tmpN++
	head := fmt.Sprintf("#%d op %d %s\n", w.tmpN, w.op, what)
	switch r := w.rng.Intn(20); {
	case r == 0:
		return []byte{}
	case r <= 2:
		b := make([]byte, 100<<10+w.rng.Intn(300<<10))
		w.rng.Read(b)
		return append([]byte(head), b...)
	default:
		return []byte(head + strings.Repeat("x", w.rng.Intn(200)))
	}
}

// tmpPath is a new name in the trash directory.
func (w *world) tmpPath() string {
	w.tmpN++
	return filepath.Join(w.trash, fmt.Sprintf("t%d", w.tmpN))
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ledger records every content written and what became of it.
type ledger struct {
	mu        sync.Mutex
	written   map[string]string // hash → which operation wrote it
	destroyed map[string]string // hash → the user operation that replaced or deleted it
	mayLose   map[string]string // hash → why its loss is a documented window
	blinds    []string          // user operations that deleted a content they never read
}

func newLedger() *ledger {
	return &ledger{written: map[string]string{}, destroyed: map[string]string{}, mayLose: map[string]string{}}
}

func (l *ledger) wrote(b []byte, what string) {
	if len(b) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written[hashOf(b)] = what
}

// passing records b, the first half of a file written in two steps, which the
// clients may read and sync before the second: written and replaced by the same
// operation.
func (l *ledger) passing(b []byte, what string) {
	l.wrote(b, what+" (first half)")
	l.destroy(b, what)
}

func (l *ledger) destroy(b []byte, what string) {
	if len(b) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.destroyed[hashOf(b)] = what
}

func (l *ledger) mayBeLost(b []byte, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mayLose[hashOf(b)] = why
}

func (l *ledger) blind(why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blinds = append(l.blinds, why)
}

// destroyTree records every file under dir (a deleted directory in the trash) as
// deleted by what.
func (l *ledger) destroyTree(dir, what string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil {
				l.destroy(b, what)
			}
		}
		return nil
	})
}
