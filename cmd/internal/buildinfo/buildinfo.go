// Package buildinfo answers every binary's --version: the version, the commit and the
// Go version it was built with. The commit (and whether the tree was modified) comes
// from the VCS stamp Go embeds (runtime/debug.ReadBuildInfo, -buildvcs); Version and
// Commit can be set at link time, as .ci/release does:
//
//	go build -ldflags "-X github.com/syncspace/syncspace/cmd/internal/buildinfo.Version=v1.2.0" ./cmd/syncd
package buildinfo

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X; empty means "from the build info".
var (
	// Version is the release (e.g. v1.2.0); default: the module version, or "devel".
	Version string
	// Commit is the VCS revision; default: vcs.revision of the build info.
	Commit string
)

// Info is what --version prints.
type Info struct {
	Version   string
	Commit    string // "" when unknown
	Modified  bool   // built from a tree with uncommitted changes
	GoVersion string
	Platform  string // GOOS/GOARCH
}

// Get collects the build's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return from(bi, Version, Commit)
}

func from(bi *debug.BuildInfo, version, commit string) Info {
	in := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		in.GoVersion = bi.GoVersion
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.modified":
				in.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	return in
}

// String is the one line --version prints, e.g.
// "syncd v1.2.0 (commit 0123abcd4567, go1.26.5, linux/amd64)".
func (in Info) String() string {
	c := in.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		c = "unknown"
	}
	if in.Modified {
		c += "-dirty"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s)", in.Version, c, in.GoVersion, in.Platform)
}

// IsVersionFlag reports whether args asks for the version only (--version, -version,
// -v is not taken: it may mean verbose).
func IsVersionFlag(args []string) bool {
	return len(args) == 1 && (args[0] == "--version" || args[0] == "-version")
}

// Print writes "NAME INFO" and a newline to w.
func Print(w io.Writer, name string) {
	fmt.Fprintf(w, "%s %s\n", name, Get())
}
