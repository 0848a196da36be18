package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// clientRun is what one realtime-sync-client --once child process cost.
type clientRun struct {
	wall, cpu time.Duration // from the start to the exit ("in sync"); user+system
	maxRSS    int64         // peak resident memory, bytes
}

// growthClient is the client side of one size of the growth scenario: a folder that
// holds hard links to the tenant's generated files (made before syncd first sees
// them, so the tenant and the folder agree from the start), synced by
// realtime-sync-client child processes (`syncbench __client`) so that their memory is
// measured apart from syncbench's.
type growthClient struct {
	self, dir, folder, tokenFile, server string
	env                                  []string
	runs                                 int
}

// newGrowthClient makes the client's folder under dir as hard links to every file
// under files.
func newGrowthClient(self, dir, files, token string, env []string) (*growthClient, error) {
	g := &growthClient{self: self, dir: dir, folder: filepath.Join(dir, "client"), env: env}
	if err := linkTree(files, g.folder); err != nil {
		return nil, fmt.Errorf("link the client's folder: %w", err)
	}
	tf, err := writeToken(dir, token)
	if err != nil {
		return nil, err
	}
	g.tokenFile = tf
	return g, nil
}

// once runs `realtime-sync-client --once` on the folder to the end and returns its
// cost; a non-zero exit is an error.
func (g *growthClient) once(ctx context.Context) (clientRun, error) {
	g.runs++
	name := fmt.Sprintf("client-%d", g.runs)
	t0 := time.Now()
	p, err := startProc(name, g.dir, g.self, []string{"__client", "--server", g.server, "--local-path", g.folder,
		"--token-file", g.tokenFile, "--once", "--log-level", "warn"}, g.env)
	if err != nil {
		return clientRun{}, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.stop()
		return clientRun{}, ctx.Err()
	}
	run := clientRun{wall: time.Since(t0)}
	if st := p.cmd.ProcessState; st != nil {
		run.cpu = st.UserTime() + st.SystemTime()
		run.maxRSS = maxRSS(st)
	}
	if p.err != nil {
		return run, fmt.Errorf("realtime-sync-client --once: %v: %s", p.err, p.tail())
	}
	return run, nil
}

// stillLinked checks that the client transferred none of the generated files: the
// first and last generated directories still hold the hard links made at the start.
func (g *growthClient) stillLinked(n int) error {
	for _, d := range []string{"d0000", fmt.Sprintf("d%04d", (n-1)/1000)} {
		ents, err := os.ReadDir(filepath.Join(g.folder, d))
		if err != nil {
			return err
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				return err
			}
			if n, ok := linkCount(info); ok && n < 2 {
				return fmt.Errorf("the client replaced %s/%s: it was already in sync", d, e.Name())
			}
		}
	}
	return nil
}

// linkTree recreates src's directories under dst and hard-links every regular file.
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type().IsRegular():
			return os.Link(p, to)
		}
		return nil
	})
}
