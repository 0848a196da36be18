//go:build linux

package clientapp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// view is one side's tree: slash-separated path → SHA-256 of the content, or
// viewDir for a directory.
type view map[string]string

const viewDir = "dir"

// localView reads a folder's tree, without .syncspace; temp files are listed apart.
func localView(dir string) (v view, temps []string) {
	v = view{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		switch {
		case rel == ".syncspace":
			return filepath.SkipDir
		case strings.HasPrefix(d.Name(), ".syncspace-tmp-"):
			temps = append(temps, rel)
		case d.IsDir():
			v[rel] = viewDir
		case d.Type().IsRegular():
			if b, err := os.ReadFile(p); err == nil {
				v[rel] = hashOf(b)
			}
		}
		return nil
	})
	return v, temps
}

// serverView lists the tenant.
func (w *world) serverView() (view, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v := view{}
	err := realClient(w.t, w.srv.URL, w.srv.Token).List(ctx, func(string, int64) error { return nil }, func(m protocol.Metadata) error {
		if m.IsDirectory {
			v[m.Path] = viewDir
		} else {
			v[m.Path] = m.Hash
		}
		return nil
	})
	return v, err
}

// disagreement compares every folder with the server ("" when all agree).
func (w *world) disagreement() (view, string) {
	sv, err := w.serverView()
	if err != nil {
		return nil, "server list: " + err.Error()
	}
	var out []string
	for _, cc := range w.cs {
		lv, temps := localView(cc.dir)
		for _, p := range temps {
			out = append(out, fmt.Sprintf("%s: temp file visible: %s", cc.name, p))
		}
		out = append(out, diffViews(cc.name, lv, sv)...)
	}
	return sv, strings.Join(out, "\n")
}

func diffViews(name string, local, server view) []string {
	var out []string
	for p, h := range local {
		if s, ok := server[p]; !ok {
			out = append(out, fmt.Sprintf("%s: %s only here (%.8s)", name, p, h))
		} else if s != h {
			out = append(out, fmt.Sprintf("%s: %s is %.8s here, %.8s on the server", name, p, h, s))
		}
	}
	for p, h := range server {
		if _, ok := local[p]; !ok {
			out = append(out, fmt.Sprintf("%s: %s missing here (server %.8s)", name, p, h))
		}
	}
	sort.Strings(out)
	return out
}

// waitConverged waits until the folders and the server agree and still agree a second
// later; it returns the server's tree then, or nil (test failed) after limit.
func (w *world) waitConverged(limit time.Duration) view {
	start := time.Now()
	var last string
	agreed := 0
	for time.Since(start) < limit {
		sv, diff := w.disagreement()
		if diff == "" {
			if agreed++; agreed == 3 {
				w.t.Logf("converged %v after the last operation: %d paths", time.Since(start).Round(time.Millisecond), len(sv))
				return sv
			}
		} else {
			agreed, last = 0, diff
		}
		time.Sleep(500 * time.Millisecond)
	}
	w.t.Errorf("no convergence within %v:\n%s", limit, last)
	return nil
}

// checkNoLoss checks the converged tree against the ledger: every content written and
// not replaced or deleted by a user operation that saw it is in the tree, and the tree
// holds no content that was never written.
func (w *world) checkNoLoss(final view) {
	l := w.led
	l.mu.Lock()
	defer l.mu.Unlock()
	present := map[string]string{}
	empty := hashOf(nil)
	copies := 0
	for p, h := range final {
		if strings.Contains(p, ".sync-conflict-") {
			copies++
		}
		if h == viewDir || h == empty {
			continue
		}
		if q, ok := present[h]; ok {
			w.t.Logf("DUP %s and %s hold the same content (%.8s)", p, q, h)
		}
		present[h] = p
		if _, ok := l.written[h]; !ok {
			w.t.Errorf("%s holds a content never written (%.8s)", p, h)
		}
	}
	var lost []string
	for h, what := range l.written {
		if present[h] == "" && l.destroyed[h] == "" && l.mayLose[h] == "" {
			lost = append(lost, fmt.Sprintf("%.8s written by %q", h, what))
		}
	}
	sort.Strings(lost)
	w.t.Logf("%d contents written, %d in the tree, %d conflict copies, %d lost", len(l.written), len(present), copies, len(lost))
	switch {
	case len(lost) > 0 && len(l.blinds) > 0:
		w.t.Logf("lost, but a user deleted a content it never read (%s):\n%s", strings.Join(l.blinds, "; "), strings.Join(lost, "\n"))
	case len(lost) > 0:
		w.t.Errorf("contents lost:\n%s", strings.Join(lost, "\n"))
	}
}
