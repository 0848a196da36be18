package fsys

import (
	"os"
	"os/exec"
	"testing"
)

// TestOtherUnixesBuild: the package compiles and vets for the BSDs, whose client
// builds from source (`go install`) though they are not release targets: every
// platform call has an implementation there (DiskFree is statvfs on NetBSD and
// statfs with f_* fields on OpenBSD).
func TestOtherUnixesBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles four times")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	for _, goos := range []string{"freebsd", "openbsd", "netbsd", "dragonfly"} {
		cmd := exec.Command(gobin, "vet", "github.com/syncspace/syncspace/sync/fsys")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s go vet ./sync/fsys: %v\n%s", goos, err, out)
		}
	}
}
