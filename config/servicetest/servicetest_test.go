package servicetest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLookupSkipsOrFails runs a child test with the variable unset, once optional and
// once required, and checks it skipped, then failed.
func TestLookupSkipsOrFails(t *testing.T) {
	if os.Getenv("SERVICETEST_CHILD") == "1" {
		Lookup(t, "SYNCSPACE_TEST_NO_SUCH_SERVICE", "no such service")
		t.Fatal("Lookup returned for an unset variable")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		required string
		wantErr  bool
		wantOut  string
	}{
		{"", false, "SKIP"},
		{"1", true, "is required"},
	} {
		cmd := exec.Command(exe, "-test.run=^TestLookupSkipsOrFails$", "-test.v")
		cmd.Env = append(os.Environ(), "SERVICETEST_CHILD=1", EnvRequired+"="+tc.required)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantErr || !strings.Contains(string(out), tc.wantOut) {
			t.Errorf("required=%q: err=%v, output:\n%s", tc.required, err, out)
		}
		if !strings.Contains(string(out), ".ci/services start") {
			t.Errorf("required=%q: the message does not say how to start the services:\n%s", tc.required, out)
		}
	}
}

func TestS3FreshBucketNames(t *testing.T) {
	t.Setenv(EnvS3Endpoint, "http://127.0.0.1:1")
	t.Setenv(EnvS3AccessKey, "a")
	t.Setenv(EnvS3SecretKey, "b")
	t.Setenv(EnvS3Bucket, "pre")
	a, b := S3(t), S3(t)
	if a.Bucket == b.Bucket || !strings.HasPrefix(a.Bucket, "pre-") {
		t.Errorf("buckets %q and %q", a.Bucket, b.Bucket)
	}
}
