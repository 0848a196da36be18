package docscheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestArchitecturePackageTable: every Go package of the repository (every directory
// holding a .go file, the packages `go list ./...` sees) is named in the first column
// of docs/ARCHITECTURE.md's "## Packages" table, and every package named there exists,
// so that a package added, moved or removed without its row fails here.
func TestArchitecturePackageTable(t *testing.T) {
	named := packageTable(t, readDoc(t, "docs/ARCHITECTURE.md"))
	have := goPackages(t, repoRoot(t))
	if len(have) < 20 {
		t.Fatalf("only %d packages found under the repository; the walk is broken", len(have))
	}
	for _, p := range have {
		if !named[p] {
			t.Errorf("package %s is not in docs/ARCHITECTURE.md's package table: add a row (| `%s` | what it owns |)", p, p)
		}
	}
	exists := make(map[string]bool, len(have))
	for _, p := range have {
		exists[p] = true
	}
	for p := range named {
		if !exists[p] {
			t.Errorf("docs/ARCHITECTURE.md's package table names %s, which is no package of the repository", p)
		}
	}
}

// codeRE is one `code span` of a table cell.
var codeRE = regexp.MustCompile("`([^`]+)`")

// packageTable returns the packages named in code spans of the first column of the
// "## Packages" section's table.
func packageTable(t *testing.T, doc string) map[string]bool {
	t.Helper()
	const heading = "\n## Packages\n"
	i := strings.Index(doc, heading)
	if i < 0 {
		t.Fatal("docs/ARCHITECTURE.md has no \"## Packages\" section")
	}
	section := doc[i+len(heading):]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	named := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range codeRE.FindAllStringSubmatch(cells[1], -1) {
			named[m[1]] = true
		}
	}
	if len(named) == 0 {
		t.Fatal("the \"## Packages\" section of docs/ARCHITECTURE.md has no table naming packages")
	}
	return named
}

// goPackages returns the directories under root holding a .go file, relative to root
// and slash-separated, skipping what the go command skips: testdata, directories whose
// name starts with "." or "_", vendor, and nested modules.
func goPackages(t *testing.T, root string) []string {
	t.Helper()
	set := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == root {
				return nil
			}
			name := d.Name()
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".go") {
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			set[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pkgs := make([]string, 0, len(set))
	for p := range set {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	return pkgs
}
