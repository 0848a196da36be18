package bench

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// TestPlatformSkips: every scenario named for a platform skip exists, and on Linux,
// where every scenario was written, none is skipped.
func TestPlatformSkips(t *testing.T) {
	known := map[string]bool{}
	for _, s := range allScenarios {
		known[s.name] = true
		if why := platformSkip(s.name); runtime.GOOS == "linux" && why != "" {
			t.Errorf("%s skipped on Linux: %s", s.name, why)
		}
	}
	for _, m := range []map[string]string{procSkips, syncSkips} {
		for name, why := range m {
			if !known[name] || why == "" {
				t.Errorf("skip %q (%q): no such scenario, or no reason", name, why)
			}
		}
	}
}

// TestCrossBuild: syncbench builds, vets clean, for macOS and Windows (its system
// calls live behind build tags, one file per platform).
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles twice")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	for _, goos := range []string{"darwin", "windows"} {
		cmd := exec.Command(gobin, "vet", "github.com/syncspace/syncspace/cmd/syncbench/...")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s go vet ./cmd/syncbench/...: %v\n%s", goos, err, out)
		}
	}
}
