package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFrom(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.5", Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}
	in := from(bi, "", "")
	if in.Version != "devel" || in.Commit != "0123456789abcdef0123" || !in.Modified || in.GoVersion != "go1.26.5" {
		t.Fatalf("%+v", in)
	}
	if s := in.String(); !strings.HasPrefix(s, "devel (commit 0123456789ab-dirty, go1.26.5, ") {
		t.Fatalf("%q", s)
	}
	// -ldflags -X wins over the build info, and a release is not "dirty".
	in = from(bi, "v1.2.0", "feedface")
	if s := in.String(); !strings.HasPrefix(s, "v1.2.0 (commit feedface, go1.26.5, ") {
		t.Fatalf("%q", s)
	}
	// A module version from `go install ...@v1.3.0`.
	in = from(&debug.BuildInfo{GoVersion: "go1.26.5", Main: debug.Module{Version: "v1.3.0"}}, "", "")
	if s := in.String(); !strings.HasPrefix(s, "v1.3.0 (commit unknown, ") {
		t.Fatalf("%q", s)
	}
	if in := from(nil, "", ""); in.Version != "devel" || in.GoVersion == "" {
		t.Fatalf("%+v", in)
	}
}

func TestIsVersionFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true}, {[]string{"-version"}, true},
		// attacks: only alone, never a prefix or with other arguments
		{nil, false}, {[]string{"--version", "x"}, false}, {[]string{"--versionx"}, false}, {[]string{"-v"}, false}, {[]string{"version"}, false},
	} {
		if got := IsVersionFlag(c.args); got != c.want {
			t.Errorf("%q: %v", c.args, got)
		}
	}
}
