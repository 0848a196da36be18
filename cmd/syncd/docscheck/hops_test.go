package docscheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hopRE is one `file.go:Function` or `file.go:Type.Method` of the hop tables.
var hopRE = regexp.MustCompile("`([a-z0-9_./-]+\\.go):([A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*)?)`")

// TestArchitectureHopsExist: every `file:function` hop in docs/ARCHITECTURE.md's hop
// tables names a function (or method) declared in that file, so a hop left behind by a
// move of code fails here.
func TestArchitectureHopsExist(t *testing.T) {
	doc := readDoc(t, "docs/ARCHITECTURE.md")
	i := strings.Index(doc, "## The hops")
	if i < 0 {
		t.Fatal("docs/ARCHITECTURE.md has no \"## The hops\" section")
	}
	section := doc[i+len("## The hops"):]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	hops := hopRE.FindAllStringSubmatch(section, -1)
	if len(hops) < 30 {
		t.Fatalf("only %d hops found in the hop tables; the pattern or the section changed", len(hops))
	}
	decls := map[string]map[string]bool{} // file → declared names
	for _, h := range hops {
		file, name := h[1], h[2]
		names, ok := decls[file]
		if !ok {
			names = funcNames(t, filepath.Join(repoRoot(t), filepath.FromSlash(file)))
			decls[file] = names
		}
		if names == nil {
			t.Errorf("hop %s:%s: no Go file %s", file, name, file)
		} else if !names[name] {
			t.Errorf("hop %s:%s: %s declares no %s", file, name, file, name)
		}
	}
}

// funcNames returns the functions of a Go file as "Name" and methods as "Type.Name";
// nil when the file does not parse or exist.
func funcNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		if fd.Recv == nil || len(fd.Recv.List) == 0 {
			names[fd.Name.Name] = true
			continue
		}
		names[recvType(fd.Recv.List[0].Type)+"."+fd.Name.Name] = true
	}
	return names
}

// recvType is the type name of a receiver: T, *T, T[P] or *T[P].
func recvType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
