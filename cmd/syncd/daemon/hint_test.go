package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/internal/testbin"
	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
)

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"syncd-data/default.token", "syncd-data/default.token"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"/abs/path_1,2+3=4@x%y", "/abs/path_1,2+3=4@x%y"},
		// attacks: anything a shell would read specially is single-quoted
		{"", "''"},
		{"with space/t", "'with space/t'"},
		{"it's", `'it'\''s'`},
		{"$(rm -rf /)", "'$(rm -rf /)'"},
		{"`id`", "'`id`'"},
		{"a;b", "'a;b'"},
		{"a\nb", "'a\nb'"},
		{"http://[::1]:8080", "'http://[::1]:8080'"},
		{"*", "'*'"},
		{"~/x", "'~/x'"},
		{"ünï", "'ünï'"},
	}
	sh, err := exec.LookPath("sh")
	for _, tc := range tests {
		got := shellQuote(tc.in)
		if got != tc.want {
			t.Errorf("shellQuote(%q) = %q, want %q", tc.in, got, tc.want)
			continue
		}
		if err != nil {
			continue
		}
		// The shell reads it back as exactly one word, unchanged.
		out, err := exec.Command(sh, "-c", `printf '%s\0' `+got).Output()
		if err != nil || string(out) != tc.in+"\x00" {
			t.Errorf("sh reads %q back as %q (%v)", got, out, err)
		}
	}
}

func TestClientCommand(t *testing.T) {
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	found := func(string) (string, error) { return "/usr/local/bin/" + ClientBinary, nil }

	clone := t.TempDir()
	writeFile(t, filepath.Join(clone, "go.mod"), "// a comment\nmodule "+ModulePath+"\n\ngo 1.26.5\n")
	deep := filepath.Join(clone, "cmd", "syncd")
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "go.mod"), "module example.com/other\n")
	lookalike := t.TempDir()
	writeFile(t, filepath.Join(lookalike, "go.mod"), "module "+ModulePath+"/v2\n")

	tests := []struct {
		name     string
		lookPath func(string) (string, error)
		cwd      string
		cmd      string
		note     bool
	}{
		{"installed wins", found, clone, ClientBinary, false},
		{"clone root", notFound, clone, "go run ./cmd/" + ClientBinary, false},
		{"inside a clone", notFound, deep, "go run " + ModulePath + "/cmd/" + ClientBinary, false},
		{"another module", notFound, other, ClientBinary, true},
		{"module path prefix only", notFound, lookalike, ClientBinary, true},
		{"no go.mod", notFound, t.TempDir(), ClientBinary, true},
		{"unknown cwd", notFound, "", ClientBinary, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, note := clientCommand(tc.lookPath, tc.cwd)
			if cmd != tc.cmd || (note != "") != tc.note {
				t.Fatalf("got %q, note %q; want %q, note %v", cmd, note, tc.cmd, tc.note)
			}
			if tc.note && !strings.Contains(note, "go install ./cmd/...") {
				t.Fatalf("note %q does not say how to install", note)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientBinaryDir is a directory holding realtime-sync-client (to be put on PATH),
// built once per source tree (cmd/internal/testbin).
func clientBinaryDir(t *testing.T) string {
	t.Helper()
	return filepath.Dir(testbin.Path(t, testbin.Client))
}

// hintLine starts the embedded default in cwd (which must be the test's working
// directory) and returns the client command line it printed, with a file already on
// the server and the daemon's address.
func hintLine(t *testing.T, getenv func(string) string) (line string, d *Daemon) {
	t.Helper()
	var out syncBuffer
	d, err := start(context.Background(), nil, &out, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	lines := strings.Split(out.String(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "start a client") && i+1 < len(lines) {
			line = strings.TrimSpace(lines[i+1])
		}
	}
	if line == "" {
		t.Fatalf("no client command line in:\n%s", out.String())
	}
	tok, err := os.ReadFile(filepath.Join(d.Config().DataDir, DefaultTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", "http://"+d.Addr()+"/api/files/from-server.txt", strings.NewReader("hello from syncd"))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	return line, d
}

// runPasted runs line, with --once appended, through sh in dir, and checks that the
// client synced the server's file into ./my-folder there.
func runPasted(t *testing.T, dir, line string, env []string, timeout time.Duration) {
	t.Helper()
	// The folder does not exist: the client creates it (its parent, dir, exists).
	if _, err := os.Stat(filepath.Join(dir, "my-folder")); !os.IsNotExist(err) {
		t.Fatalf("my-folder exists before the pasted line ran: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line+" --once")
	cmd.Dir = dir
	cmd.Env = env
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := cmd.Run(); err != nil {
		t.Fatalf("pasted line %q failed: %v\n%s", line, err, outb.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "my-folder", "from-server.txt"))
	if err != nil || string(got) != "hello from syncd" {
		t.Fatalf("my-folder/from-server.txt: %q %v\n%s", got, err, outb.String())
	}
}

// TestFirstStartLineRunsInstalled: with realtime-sync-client on PATH, the line syncd
// prints at first start works pasted as is into a shell in the directory syncd was
// started from (here a directory with a space in its name), and syncs.
func TestFirstStartLineRunsInstalled(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell test")
	}
	bin := clientBinaryDir(t)
	dir := filepath.Join(t.TempDir(), "my place")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	path := bin + string(os.PathListSeparator) + os.Getenv("PATH")
	t.Setenv("PATH", path)
	line, _ := hintLine(t, envFunc(map[string]string{"SYNCD_LISTEN": "127.0.0.1:0", "SYNCD_LOG_LEVEL": "warn"}))
	if !strings.HasPrefix(line, ClientBinary+" ") {
		t.Fatalf("line %q does not start with the installed binary", line)
	}
	runPasted(t, dir, line, os.Environ(), 2*time.Minute)
}

// cloneWithoutBinaries makes a clone of this repository (a directory of symlinks to its
// top-level entries, so that what a test writes there stays out of the repository),
// changes into it and sets PATH to go and the basic tools only. It skips the test
// where one of names is installed there anyway, or go is missing. It returns the
// repository's root and the clone.
func cloneWithoutBinaries(t *testing.T, names ...string) (repo, clone string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	repo, err = filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil || !isThisModule(filepath.Join(repo, "go.mod")) {
		t.Fatalf("repository root not found at %s", repo)
	}
	clone = t.TempDir()
	ents, err := os.ReadDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == ".git" {
			continue
		}
		if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(clone, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Dir(goBin) + string(os.PathListSeparator) + "/usr/bin" + string(os.PathListSeparator) + "/bin"
	for _, d := range filepath.SplitList(path) {
		for _, name := range names {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				t.Skipf("%s is installed in %s", name, d)
			}
		}
	}
	t.Setenv("PATH", path)
	t.Chdir(clone)
	return repo, clone
}

// TestFirstStartSyncctlLinesRunFromClone: without syncctl on PATH, syncd started at the
// root of a clone prints its syncctl commands (the web app's sign-in link, the
// replacement of a revoked token file) as "go run ./cmd/syncctl ...", as it prints the
// client's, and the sign-in command works pasted there. Until session 26 they said
// "syncctl ...", which a user who followed the README's "go run ./cmd/syncd" did not
// have.
func TestFirstStartSyncctlLinesRunFromClone(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell test")
	}
	if testing.Short() {
		t.Skip("compiles syncctl with go run")
	}
	_, clone := cloneWithoutBinaries(t, CtlBinary)
	_, out, stop := startEmbedded(t)
	var link string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "open the web app") && i+1 < len(lines) {
			link = strings.TrimSpace(lines[i+1])
		}
	}
	if !strings.HasPrefix(link, "go run ./cmd/"+CtlBinary+" --data ") {
		t.Fatalf("sign-in command %q: want go run ./cmd/%s\n%s", link, CtlBinary, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", link)
	cmd.Dir = clone
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "/#token=") {
		t.Fatalf("pasted %q: %v\n%s", link, err, stderr.String())
	}
	// The replacement of a token file that no longer works, on a later start.
	stop()
	var so, se strings.Builder
	if code := ctl.Run(context.Background(), []string{"--data", "syncd-data", "token", "revoke", "--tenant", DefaultTenant, "--subject", DefaultTenant}, &so, &se); code != 0 {
		t.Fatalf("syncctl: %d %s", code, se.String())
	}
	_, out, stop = startEmbedded(t)
	defer stop()
	if !strings.Contains(out, " && go run ./cmd/"+CtlBinary+" --data ./syncd-data token issue ") {
		t.Fatalf("the replacement command does not run syncctl from the clone:\n%s", out)
	}
}

// TestFirstStartLineRunsFromClone: without the binary on PATH, syncd started at the
// root of a clone prints "go run ./cmd/realtime-sync-client ...", which works pasted
// there. The clone is a directory of symlinks to this repository's top-level entries
// (so the client's folder is made in a temporary directory, not in the repository),
// and the data dir is given as an absolute path with a space in it.
func TestFirstStartLineRunsFromClone(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell test")
	}
	if testing.Short() {
		t.Skip("compiles the client with go run")
	}
	repo, clone := cloneWithoutBinaries(t, ClientBinary)
	data := filepath.Join(t.TempDir(), "data dir")
	line, _ := hintLine(t, envFunc(map[string]string{"SYNCD_LISTEN": "127.0.0.1:0", "SYNCD_LOG_LEVEL": "warn", "SYNCD_DATA_DIR": data}))
	if !strings.HasPrefix(line, "go run ./cmd/"+ClientBinary+" ") || !strings.Contains(line, "'"+data+"/default.token'") {
		t.Fatalf("line %q: want go run ./cmd/%s and the quoted token path", line, ClientBinary)
	}
	runPasted(t, clone, line, os.Environ(), 5*time.Minute)
	if _, err := os.Stat(filepath.Join(repo, "my-folder")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the test wrote into the repository: %v", err)
	}
}
