package docscheck

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/cmd/realtime-sync-client/clientapp"
	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
)

// binary is one of the three programs: the package that parses its flags, its usage
// text (what -h prints) and its section of docs/CLI.md.
type binary struct {
	name, pkg string
	help      func(t *testing.T) string
}

// runHelp runs a program's Run with args and returns what it printed; it must exit 0.
func runHelp(t *testing.T, run func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("%q: exit %d: %s", args, code, errb.String())
	}
	return out.String()
}

var binaries = []binary{
	{"syncd", "cmd/syncd/daemon", func(t *testing.T) string {
		return runHelp(t, func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return daemon.Run(ctx, a, o, e) }, "-h")
	}},
	{"syncctl", "cmd/syncctl/ctl", func(t *testing.T) string {
		return runHelp(t, func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return ctl.Run(ctx, a, o, e) }, "-h")
	}},
	{"realtime-sync-client", "cmd/realtime-sync-client/clientapp", func(t *testing.T) string {
		run := func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return clientapp.Run(ctx, a, o, e) }
		return runHelp(t, run, "-h") + runHelp(t, run, "status", "-h")
	}},
}

// flagCalls are the flag.FlagSet methods that define a flag, with the index of the
// flag's name among their arguments.
var flagCalls = map[string]int{
	"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0, "Func": 0, "BoolFunc": 0,
	"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "Float64Var": 1, "DurationVar": 1, "Var": 1, "TextVar": 1,
}

// flagLitRE is a flag spelled out in a switch case ("-healthcheck").
var flagLitRE = regexp.MustCompile(`^--?([a-z][a-z0-9-]+)(=true)?$`)

// codeFlags returns the flags the non-test Go files of pkg accept: those defined on a
// variable assigned from flag.NewFlagSet (with a literal name), the keys of a map
// named knownFlags (syncctl's parser), and those spelled out in a switch case.
func codeFlags(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), filepath.FromSlash(pkg), "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no Go files (%v)", pkg, err)
	}
	flags := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		sets := flagSets(file)
		ast.Inspect(file, func(n ast.Node) bool {
			for _, name := range flagsOf(n, sets) {
				flags[name] = true
			}
			return true
		})
	}
	return flags
}

// flagSets returns the names of the variables a file assigns from flag.NewFlagSet.
func flagSets(file *ast.File) map[string]bool {
	sets := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
			return true
		}
		if call, ok := as.Rhs[0].(*ast.CallExpr); ok && isSelector(call.Fun, "flag", "NewFlagSet") {
			if id, ok := as.Lhs[0].(*ast.Ident); ok {
				sets[id.Name] = true
			}
		}
		return true
	})
	return sets
}

func isSelector(e ast.Expr, x, sel string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == x && s.Sel.Name == sel
}

// flagsOf returns the flags node n defines, if any.
func flagsOf(n ast.Node, sets map[string]bool) []string {
	var out []string
	switch n := n.(type) {
	case *ast.CallExpr: // fs.StringVar(&v, "name", …)
		s, ok := n.Fun.(*ast.SelectorExpr)
		if !ok {
			break
		}
		id, ok := s.X.(*ast.Ident)
		i, known := flagCalls[s.Sel.Name]
		if ok && known && sets[id.Name] && i < len(n.Args) {
			out = append(out, stringLits(n.Args[i])...)
		}
	case *ast.ValueSpec: // var knownFlags = map[string]flagSpec{"name": …}
		for i, name := range n.Names {
			if name.Name == "knownFlags" && i < len(n.Values) {
				if cl, ok := n.Values[i].(*ast.CompositeLit); ok {
					for _, e := range cl.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							out = append(out, stringLits(kv.Key)...)
						}
					}
				}
			}
		}
	case *ast.IndexExpr: // knownFlags["device"] = …
		if id, ok := n.X.(*ast.Ident); ok && id.Name == "knownFlags" {
			out = append(out, stringLits(n.Index)...)
		}
	case *ast.CaseClause: // case "-healthcheck", "--healthcheck":
		for _, e := range n.List {
			for _, s := range stringLits(e) {
				if m := flagLitRE.FindStringSubmatch(s); m != nil {
					out = append(out, m[1])
				}
			}
		}
	}
	return out
}

// stringLits returns e's value when it is a string literal.
func stringLits(e ast.Expr) []string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return nil
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return nil
	}
	return []string{s}
}

// cliSection returns the "## NAME" section of docs/CLI.md.
func cliSection(t *testing.T, doc, name string) string {
	t.Helper()
	i := strings.Index(doc, "\n## "+name+"\n")
	if i < 0 {
		t.Fatalf("docs/CLI.md has no \"## %s\" section", name)
	}
	section := doc[i+1:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	return section
}

// mentionsFlag reports whether text names the flag as -name or --name, not as part of
// a longer flag.
func mentionsFlag(text, name string) bool {
	return regexp.MustCompile(`(^|[\s\x60\[(|,])--?` + regexp.QuoteMeta(name) + `([^a-z0-9-]|$)`).MatchString(text)
}

// TestFlagsDocumented: every flag a binary's code accepts (found in its parser's
// source, so a flag added without docs fails here) is in what its -h prints and in its
// section of docs/CLI.md, and so is --version. A flag the status subcommand of the
// client did not know (--cert, --key) went unnoticed for months (session 26).
func TestFlagsDocumented(t *testing.T) {
	doc := readDoc(t, "docs/CLI.md")
	for _, b := range binaries {
		flags := codeFlags(t, b.pkg)
		if len(flags) == 0 {
			t.Fatalf("%s: no flags found in %s; the scan is broken", b.name, b.pkg)
		}
		flags["version"] = true // cmd/*/main.go, buildinfo.IsVersionFlag
		t.Logf("%s: %d flags", b.name, len(flags))
		help := b.help(t)
		section := cliSection(t, doc, b.name)
		var names []string
		for f := range flags {
			names = append(names, f)
		}
		sort.Strings(names)
		for _, f := range names {
			if f != "version" && f != "h" && f != "help" && !mentionsFlag(help, f) { // -h prints it
				t.Errorf("%s -h does not mention -%s", b.name, f)
			}
			if !mentionsFlag(section, f) && !mentionsFlag(doc[:strings.Index(doc, "\n## ")], f) {
				t.Errorf("docs/CLI.md, section %s, does not document --%s", b.name, f)
			}
		}
	}
}

// commandWords returns syncctl's commands ("tenant create", …): the words of every
// command literal of cmd/syncctl/ctl (`words: []string{"tenant", "create"}`).
func commandWords(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "cmd", "syncctl", "ctl", "ctl.go")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, m := range regexp.MustCompile(`words: \[\]string\{([^}]*)\}`).FindAllStringSubmatch(string(src), -1) {
		var words []string
		for _, w := range strings.Split(m[1], ",") {
			s, err := strconv.Unquote(strings.TrimSpace(w))
			if err != nil {
				t.Fatalf("ctl.go: command words %q: %v", m[1], err)
			}
			words = append(words, s)
		}
		cmds = append(cmds, strings.Join(words, " "))
	}
	if len(cmds) < 15 {
		t.Fatalf("only %d syncctl commands found: %q", len(cmds), cmds)
	}
	return cmds
}

// TestSyncctlCommandsDocumented: every syncctl command is in `syncctl -h` and in
// docs/CLI.md's command list ("syncctl tenant create …").
func TestSyncctlCommandsDocumented(t *testing.T) {
	help := binaries[1].help(t)
	section := cliSection(t, readDoc(t, "docs/CLI.md"), "syncctl")
	for _, c := range commandWords(t) {
		if !strings.Contains(help, "  "+c) {
			t.Errorf("syncctl -h does not list %q", c)
		}
		if !strings.Contains(section, "syncctl "+c) {
			t.Errorf("docs/CLI.md does not list \"syncctl %s\"", c)
		}
	}
}

// commandLines returns the command lines of the fenced blocks of README.md and
// docs/*.md, continuation lines joined, one entry per command of a `&&`, `;` or `|`
// chain (and of a `$(…)`), with the file it came from.
func commandLines(t *testing.T) [][2]string {
	t.Helper()
	var out [][2]string
	split := regexp.MustCompile(`&&|;|\||\$\(|\)`)
	for _, f := range markdownFiles(t) {
		for _, block := range regexp.MustCompile("(?ms)^```[a-z]*\n(.*?)^```").FindAllStringSubmatch(readDoc(t, f), -1) {
			text := strings.ReplaceAll(block[1], "\\\n", " ")
			for _, line := range strings.Split(text, "\n") {
				line, _, _ = strings.Cut(line, " #")
				for _, cmd := range split.Split(line, -1) {
					out = append(out, [2]string{f, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cmd), "$ "))})
				}
			}
		}
	}
	return out
}

// program returns the binary a command line runs (one of binaries, by the base name of
// its first word after environment assignments, `sudo -u USER`, `exec` and `docker exec
// NAME`) and its arguments up to a redirection.
func program(cmd string) (string, []string) {
	words := strings.Fields(cmd)
	for len(words) > 0 {
		switch w := words[0]; {
		case strings.Contains(w, "=") && !strings.HasPrefix(w, "-"):
			words = words[1:]
		case w == "sudo" && len(words) > 2 && words[1] == "-u":
			words = words[3:]
		case w == "docker" && len(words) > 2 && words[1] == "exec":
			words = words[3:]
		case w == "exec":
			words = words[1:]
		case w == "go" && len(words) > 2 && words[1] == "run": // go run ./cmd/NAME
			words = words[2:]
		default:
			name := strings.TrimSuffix(filepath.Base(strings.Trim(w, `"'`)), ".exe")
			args := words[1:]
			for i, a := range args {
				if strings.HasPrefix(a, ">") || strings.HasPrefix(a, "<") || strings.HasPrefix(a, "2>") {
					args = args[:i]
					break
				}
			}
			return name, args
		}
	}
	return "", nil
}

// TestDocumentedCommandLinesUseRealFlags: every flag of a syncd, syncctl or
// realtime-sync-client command line in the fenced blocks of README.md and docs/*.md is
// one the binary accepts, so that an example keeps working when a flag is renamed.
func TestDocumentedCommandLinesUseRealFlags(t *testing.T) {
	known := map[string]map[string]bool{}
	for _, b := range binaries {
		known[b.name] = codeFlags(t, b.pkg)
		for _, f := range []string{"h", "help", "version"} {
			known[b.name][f] = true
		}
	}
	n := 0
	for _, fc := range commandLines(t) {
		name, args := program(fc[1])
		flags, ok := known[name]
		if !ok {
			continue
		}
		n++
		for _, a := range args {
			if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
				continue
			}
			f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !flags[f] {
				t.Errorf("%s: %q: %s has no flag -%s", fc[0], fc[1], name, f)
			}
		}
	}
	t.Logf("%d command lines checked", n)
	if n < 40 {
		t.Fatalf("only %d command lines of the three binaries found in the docs; the scan is broken", n)
	}
}
