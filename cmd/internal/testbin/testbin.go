// Package testbin gives tests the three shipped binaries (syncd, realtime-sync-client,
// syncctl) built once per source tree, not once per test package.
//
// Path builds all three into a cache directory named after a digest of the module's
// non-test sources (plus the Go version and target), under a file lock, so the test
// packages that `go test ./...` runs in parallel share one build: the first one builds,
// the others wait and reuse it, and the next run reuses it too until a source changes.
// SYNCSPACE_TEST_BIN names a directory that already holds the binaries (a CI step that
// built them once) and skips the build. The binaries are plain builds (no -race).
package testbin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// The binaries, by name (the last element of their import path).
const (
	Syncd  = "syncd"
	Client = "realtime-sync-client"
	Ctl    = "syncctl"
)

// EnvDir names a directory of prebuilt binaries that Path uses as is.
const EnvDir = "SYNCSPACE_TEST_BIN"

const modulePath = "github.com/syncspace/syncspace"

var (
	once   sync.Once
	binDir string
	binErr error
)

// TB is the part of testing.TB that Path uses.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Path returns the path of binary name (Syncd, Client or Ctl), building all three on
// the first call of this source tree; it fails t if they cannot be built.
func Path(t TB, name string) string {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name+exeSuffix())
}

// Dir returns the directory holding the three binaries (built on the first call).
func Dir() (string, error) {
	once.Do(func() { binDir, binErr = locate() })
	return binDir, binErr
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

func locate() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	key, err := treeDigest(root)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	base := filepath.Join(cache, "syncspace-testbin")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", err
	}
	return buildLocked(base, key)
}

// buildLocked builds into base/key unless it is there, holding base's lock.
func buildLocked(base, key string) (string, error) {
	unlock, err := lock(filepath.Join(base, "lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	dir := filepath.Join(base, key)
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // in use: keep it from pruning
		return dir, nil
	}
	prune(base, 24*time.Hour)
	tmp, err := os.MkdirTemp(base, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := build(tmp); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "done"), nil, 0o600); err != nil {
		return "", err
	}
	_ = os.RemoveAll(dir) // a build cut short before "done"
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "done")); serr == nil {
			return dir, nil // built meanwhile (no lock on this system)
		}
		return "", err
	}
	return dir, nil
}

func build(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out+string(os.PathSeparator),
		modulePath+"/cmd/"+Syncd, modulePath+"/cmd/"+Client, modulePath+"/cmd/"+Ctl)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testbin: go build: %v\n%s", err, b)
	}
	return nil
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	//lint:ignore SA1019 the toolchain running the test is the one wanted; PATH is the fallback
	p := filepath.Join(runtime.GOROOT(), "bin", "go"+exeSuffix())
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// prune removes cached builds not used for age (other source trees, older edits).
func prune(base string, age time.Duration) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			_ = os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}

// moduleRoot is the directory of go.mod, found upwards from the working directory
// (a test's working directory is its package directory).
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("testbin: no go.mod above the working directory")
		}
		d = up
	}
}

// treeDigest hashes the Go version, the target and every file the binaries may be
// built from: all files of the module except tests, testdata, dot-directories and
// node_modules (embedded assets count).
func treeDigest(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), runtime.GOOS, runtime.GOARCH, root)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		return hashFile(h, root, p)
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

func hashFile(h io.Writer, root, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	rel, _ := filepath.Rel(root, p)
	fmt.Fprintf(h, "\x00%s\x00", filepath.ToSlash(rel))
	_, err = io.Copy(h, f)
	return err
}
