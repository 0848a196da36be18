package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestTreeDigest(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	digest := func() string {
		t.Helper()
		d, err := treeDigest(root)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	write("go.mod", "module x\n")
	write("a/a.go", "package a\n")
	d0 := digest()
	write("a/a_test.go", "package a\n")
	write("a/testdata/x", "1")
	write(".git/HEAD", "x")
	if d := digest(); d != d0 {
		t.Fatalf("tests, testdata or .git changed the digest")
	}
	write("a/a.go", "package a // edited\n")
	d1 := digest()
	if d1 == d0 {
		t.Fatalf("an edited source kept the digest")
	}
	write("web/app.js", "x")
	if d := digest(); d == d1 {
		t.Fatalf("a new asset kept the digest")
	}
}

func TestEnvDir(t *testing.T) {
	// Dir's result is memoized for the process, so check locate directly.
	t.Setenv(EnvDir, "/prebuilt")
	if d, err := locate(); err != nil || d != "/prebuilt" {
		t.Fatalf("locate = %q, %v; want the %s directory", d, err, EnvDir)
	}
}

func TestPathBuildsAllThree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	for _, name := range []string{Syncd, Client, Ctl} {
		out, _ := exec.Command(Path(t, name), "-h").CombinedOutput()
		if !strings.Contains(strings.ToLower(string(out)), "usage") {
			t.Errorf("%s -h: %q", name, out)
		}
	}
}
