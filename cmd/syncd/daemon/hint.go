package daemon

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModulePath is syncspace's Go module path, by which the first-start hint recognises
// a clone of the repository.
const ModulePath = "github.com/syncspace/syncspace"

// ClientBinary and CtlBinary are the command names of the client and of syncctl.
const (
	ClientBinary = "realtime-sync-client"
	CtlBinary    = "syncctl"
)

// clientCommand returns how to start the client from a shell in cwd (commandFor).
func clientCommand(lookPath func(string) (string, error), cwd string) (cmd, note string) {
	return commandFor(ClientBinary, lookPath, cwd)
}

// commandFor returns how to run the binary named name (one of ./cmd) from a shell in
// cwd: the installed binary when lookPath finds it on PATH; else, when cwd is the root
// of a clone of this module, "go run ./cmd/NAME"; when cwd is deeper inside a clone,
// "go run" with the package's import path (which works anywhere in the module); else
// the binary name with a note saying how to install it.
func commandFor(name string, lookPath func(string) (string, error), cwd string) (cmd, note string) {
	if _, err := lookPath(name); err == nil {
		return name, ""
	}
	if cwd != "" {
		for dir := cwd; ; {
			if isThisModule(filepath.Join(dir, "go.mod")) {
				if dir == cwd {
					return "go run ./cmd/" + name, ""
				}
				return "go run " + ModulePath + "/cmd/" + name, ""
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return name, name + " is not on PATH: install it first (in a clone of syncspace: go install ./cmd/...)"
}

// isThisModule reports whether the go.mod file at path declares ModulePath.
func isThisModule(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == ModulePath
		}
	}
	return false
}

// shellQuote returns s as one POSIX shell word: unchanged when it holds only characters
// no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:@%+=,-", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// clientLine returns the client command line of the first-start hint, to be pasted in
// the directory syncd was started from (cwd): server URL, a folder ./my-folder in that
// directory (the client creates it), and the token file's path as syncd opened it (so
// relative to cwd), each quoted for the shell when needed.
func clientLine(lookPath func(string) (string, error), cwd, serverURL, tokenFile string) (line, note string) {
	cmd, note := clientCommand(lookPath, cwd)
	line = cmd + " --server " + shellQuote(serverURL) + " --local-path ./my-folder --token-file " + shellQuote(tokenFile) + " --realtime"
	return line, note
}

// lookPathAndCwd are the real PATH lookup and working directory of the hint.
func lookPathAndCwd() (func(string) (string, error), string) {
	cwd, err := os.Getwd()
	if err != nil {
		cwd = ""
	}
	return exec.LookPath, cwd
}
