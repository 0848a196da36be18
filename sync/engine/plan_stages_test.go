package engine

import (
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// The plan's three stages, each on its own: decidePaths (per-path decisions),
// pairRenames (local renames into server moves), collapseDeletes (recursive remote
// deletes). Each table ends with an "attacks" section: input as a broken or hostile
// server could send it (names of the client itself, names equal under case folding,
// duplicate contents, trees that reach into each other).

// hashOf is a well-formed content hash made of c.
func hashOf(c byte) string { return strings.Repeat(string(c), 64) }

// render lists a plan's actions as "op path" lines, with what the later stages
// marked: "<- from" for a move, "aside", "recursive", "covered"; the local path when
// it differs.
func render(pl *plan) []string {
	var out []string
	for _, a := range pl.acts {
		s := a.op.String() + " " + a.path
		if a.lpath != "" && a.lpath != a.path {
			s += " @" + a.lpath
		}
		if a.op == opMoveRemote {
			s += " <- " + a.from
		}
		if a.aside {
			s += " aside"
		}
		if a.recursive {
			s += " recursive"
		}
		if a.covered {
			s += " covered"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// sides is the input of decidePaths: what each side holds, by path. A file is its
// content letter ("a"), a directory "/".
type sides struct {
	local, base, remote map[string]string
	others              []string          // local symlinks or special files
	refused             map[string]string // path → refused content letter
	// synced is the local name a base path had when the sides last agreed (default:
	// the local name of the same key now, or the base's own).
	synced map[string]string
}

func (s sides) book() *book {
	b := newBook(slog.New(slog.NewTextHandler(io.Discard, nil)))
	key := func(p string) string { return pathrule.FoldKey(p) }
	for p, v := range s.local {
		if v == "/" {
			b.local[key(p)] = localEntry{Path: p, Dir: true}
		} else {
			b.local[key(p)] = localEntry{Path: p, Hash: hashOf(v[0]), Size: 1}
		}
	}
	for p, v := range s.base {
		lpath, ok := s.synced[p]
		if !ok {
			lpath = b.local[key(p)].Path
		}
		b.base[key(p)] = syncedBase(p, lpath, v == "/", map[bool]string{true: "", false: hashOf(v[0])}[v == "/"])
	}
	for p, v := range s.remote {
		if v == "/" {
			b.remoteM[key(p)] = protocol.Metadata{Path: p, IsDirectory: true}
		} else {
			b.remoteM[key(p)] = protocol.Metadata{Path: p, Hash: hashOf(v[0]), Size: 1}
		}
	}
	for _, p := range s.others {
		b.others[key(p)] = p
	}
	for p, v := range s.refused {
		b.refused[key(p)] = hashOf(v[0])
	}
	return &b
}

func allKeys(b *book) map[string]bool {
	keys := map[string]bool{}
	for _, m := range []map[string]bool{keySet(b.local), keySet(b.base), keySet(b.remoteM), keySet(b.others)} {
		for k := range m {
			keys[k] = true
		}
	}
	return keys
}

func TestDecidePaths(t *testing.T) {
	cases := []struct {
		name string
		in   sides
		want []string
	}{
		{"agreed", sides{local: map[string]string{"a": "x"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "x"}}, nil},
		{"new local file", sides{local: map[string]string{"a.txt": "x"}}, []string{"upload a.txt"}},
		{"new remote file", sides{remote: map[string]string{"a.txt": "x"}}, []string{"download a.txt"}},
		{"deleted locally", sides{base: map[string]string{"a": "x"}, remote: map[string]string{"a": "x"}}, []string{"delete-remote a"}},
		{"deleted on the server", sides{local: map[string]string{"a": "x"}, base: map[string]string{"a": "x"}}, []string{"delete-local a"}},
		{"both changed differently", sides{local: map[string]string{"a": "y"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "z"}}, []string{"download a aside"}},
		{"both changed the same way", sides{local: map[string]string{"a": "y"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "y"}}, []string{"record a"}},
		{"file here, directory there, no base", sides{local: map[string]string{"a": "x"}, remote: map[string]string{"a": "/"}}, []string{"mkdir-local a aside"}},
		{"file replaced by a directory locally", sides{local: map[string]string{"a": "/"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "x"}}, []string{"delete-remote a", "mkdir-remote a"}},
		{"directory replaced by a file on the server", sides{local: map[string]string{"a": "/"}, base: map[string]string{"a": "/"}, remote: map[string]string{"a": "x"}}, []string{"delete-local a", "download a"}},
		{"local delete against remote change: modify wins", sides{base: map[string]string{"a": "x"}, remote: map[string]string{"a": "y"}}, []string{"download a"}},
		{"local change against remote delete: modify wins", sides{local: map[string]string{"a": "y"}, base: map[string]string{"a": "x"}}, []string{"upload a"}},
		{"refused content is not pushed again", sides{local: map[string]string{"a": "x"}, refused: map[string]string{"a": "x"}}, nil},
		{"refused content changed: pushed", sides{local: map[string]string{"a": "y"}, refused: map[string]string{"a": "x"}}, []string{"upload a"}},
		{"symlink left alone", sides{remote: map[string]string{"l": "x"}, others: []string{"l"}}, nil},
		{"ignored built-in", sides{local: map[string]string{".DS_Store": "x", "d/Thumbs.db": "y"}}, nil},
		{"server renamed by case only: rename in place", sides{local: map[string]string{"A.txt": "x"}, base: map[string]string{"A.txt": "x"}, remote: map[string]string{"a.txt": "x"}}, []string{"move-local a.txt @A.txt"}},
		{"server renamed a parent by case only: follow its spelling", sides{local: map[string]string{"D/a": "x"}, base: map[string]string{"D/a": "x"}, remote: map[string]string{"d/a": "x"}}, []string{"record d/a @D/a"}},
		{"server renamed by case only, local name was already otherwise: record", sides{local: map[string]string{"A.txt": "x"}, base: map[string]string{"a.txt": "x"}, remote: map[string]string{"A.txt": "x"}}, []string{"record A.txt"}},
		{"renamed locally by case only: move on the server", sides{local: map[string]string{"Report.txt": "x"}, base: map[string]string{"report.txt": "x"}, remote: map[string]string{"report.txt": "x"}, synced: map[string]string{"report.txt": "report.txt"}}, []string{"move-remote Report.txt <- report.txt"}},
		{"renamed locally by case only to the server's new spelling: record", sides{local: map[string]string{"A.txt": "x"}, base: map[string]string{"a.txt": "x"}, remote: map[string]string{"A.txt": "x"}, synced: map[string]string{"a.txt": "a.txt"}}, []string{"record A.txt"}},
		{"directory renamed locally by case only: one move", sides{local: map[string]string{"docs": "/", "docs/x": "x"}, base: map[string]string{"Docs": "/", "Docs/x": "x"}, remote: map[string]string{"Docs": "/", "Docs/x": "x"}, synced: map[string]string{"Docs": "Docs"}}, []string{"move-remote docs <- Docs"}},
		{"local Unicode form differs from the server's: nothing", sides{local: map[string]string{"e\u0301.txt": "x"}, base: map[string]string{"\u00e9.txt": "x"}, remote: map[string]string{"\u00e9.txt": "x"}, synced: map[string]string{"\u00e9.txt": "\u00e9.txt"}}, nil},
		{"new local file under a server directory spelled otherwise", sides{local: map[string]string{"docs": "/", "docs/n": "x"}, base: map[string]string{"Docs": "/"}, remote: map[string]string{"Docs": "/"}}, []string{"upload Docs/n @docs/n"}},

		// attacks
		{"server entry in the state directory", sides{remote: map[string]string{".syncspace/state.json": "x", ".syncspace": "/"}}, nil},
		{"server entry in the state directory, other case", sides{remote: map[string]string{"a/.SyncSpace/lock": "x"}}, nil},
		{"server entry named like a temp file", sides{remote: map[string]string{".syncspace-tmp-0011": "x", "d/.syncspace-tmp-22": "y"}}, nil},
		{"server file where a local symlink stands", sides{remote: map[string]string{"link/x": "x"}, others: []string{"link/x"}}, nil},
		{"server name equal to a local one under case folding", sides{local: map[string]string{"docs": "/"}, remote: map[string]string{"DOCS": "/", "DOCS/x": "x"}}, []string{"download DOCS/x @docs/x", "record DOCS @docs"}},
		{"server deletes everything: no base, nothing deleted", sides{local: map[string]string{"a": "x", "d": "/", "d/b": "y"}}, []string{"mkdir-remote d", "upload a", "upload d/b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.in.book()
			got := render(b.decidePaths(allKeys(b)))
			if !slices.Equal(got, c.want) {
				t.Fatalf("decidePaths:\n got  %q\n want %q", got, c.want)
			}
		})
	}
}

// stage2 and stage3 inputs: actions as decidePaths makes them.
func delRemote(p string, content byte) *action {
	r := protocol.Metadata{Path: p, Hash: hashOf(content)}
	return &action{op: opDeleteRemote, key: pathrule.FoldKey(p), path: p, r: r, rOK: true, b: side{k: kFile, hash: r.Hash}}
}

func delRemoteDir(p string) *action {
	return &action{op: opDeleteRemote, key: pathrule.FoldKey(p), path: p, r: protocol.Metadata{Path: p, IsDirectory: true}, rOK: true, b: side{k: kDir}}
}

func upload(p string, content byte, onServer bool) *action {
	a := &action{op: opUpload, key: pathrule.FoldKey(p), path: p, l: &localEntry{Path: p, Hash: hashOf(content), Size: 1}}
	if onServer {
		a.r, a.rOK = protocol.Metadata{Path: p, Hash: hashOf('0')}, true
	}
	return a
}

func planOf(acts ...*action) *plan {
	pl := &plan{acts: acts}
	for _, a := range acts {
		switch a.op {
		case opDeleteRemote:
			if !a.r.IsDirectory {
				pl.remoteDeletes++
			}
		case opUpload:
			pl.transfers++
			pl.transferBytes += a.l.Size
		}
	}
	return pl
}

func TestPairRenames(t *testing.T) {
	cases := []struct {
		name      string
		acts      []*action
		want      []string
		wantDels  int // remote file deletes left for the mass-delete guard
		wantXfers int
	}{
		{"rename", []*action{delRemote("old", 'a'), upload("new", 'a', false)},
			[]string{"delete-remote old covered", "move-remote new <- old"}, 0, 0},
		{"other content: no rename", []*action{delRemote("old", 'a'), upload("new", 'b', false)},
			[]string{"delete-remote old", "upload new"}, 1, 1},
		{"rename into another directory", []*action{delRemote("a/f", 'a'), upload("b/f", 'a', false)},
			[]string{"delete-remote a/f covered", "move-remote b/f <- a/f"}, 0, 0},
		{"an upload over a server file is never a move", []*action{delRemote("old", 'a'), upload("new", 'a', true)},
			[]string{"delete-remote old", "upload new"}, 1, 1},
		{"a directory delete is never a rename source", []*action{delRemoteDir("d"), upload("e", 'a', false)},
			[]string{"delete-remote d", "upload e"}, 0, 1},

		// attacks
		{"duplicate contents: each delete pairs once", []*action{delRemote("x1", 'a'), delRemote("x2", 'a'), upload("y", 'a', false)},
			[]string{"delete-remote x1 covered", "delete-remote x2", "move-remote y <- x1"}, 1, 0},
		{"duplicate contents: each upload pairs once", []*action{delRemote("x", 'a'), upload("y1", 'a', false), upload("y2", 'a', false)},
			[]string{"delete-remote x covered", "move-remote y1 <- x", "upload y2"}, 0, 1},
		{"a swap (cycle) is two uploads, not two moves", []*action{upload("a", 'b', true), upload("b", 'a', true)},
			[]string{"upload a", "upload b"}, 0, 2},
		{"a delete covered already is not paired again", []*action{func() *action { a := delRemote("x", 'a'); a.covered = true; return a }(), upload("y", 'a', false)},
			[]string{"delete-remote x covered", "upload y"}, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pl := planOf(c.acts...)
			pairRenames(pl)
			if got := render(pl); !slices.Equal(got, c.want) {
				t.Fatalf("pairRenames:\n got  %q\n want %q", got, c.want)
			}
			if pl.remoteDeletes != c.wantDels || pl.transfers != c.wantXfers {
				t.Fatalf("counts: %d remote deletes, %d transfers; want %d, %d", pl.remoteDeletes, pl.transfers, c.wantDels, c.wantXfers)
			}
		})
	}
}

func TestCollapseDeletes(t *testing.T) {
	remote := func(paths ...string) map[string]protocol.Metadata {
		m := map[string]protocol.Metadata{}
		for _, p := range paths {
			m[pathrule.FoldKey(p)] = protocol.Metadata{Path: p, IsDirectory: !strings.Contains(p, ".")}
		}
		return m
	}
	paired := func(a *action) *action { a.covered = true; return a }
	cases := []struct {
		name   string
		remote map[string]protocol.Metadata
		acts   []*action
		want   []string
	}{
		{"whole subtree deleted: one recursive delete", remote("d", "d/a.txt", "d/b.txt"),
			[]*action{delRemoteDir("d"), delRemote("d/a.txt", 'a'), delRemote("d/b.txt", 'b')},
			[]string{"delete-remote d recursive", "delete-remote d/a.txt covered", "delete-remote d/b.txt covered"}},
		{"a kept entry keeps the deletes one by one", remote("d", "d/a.txt", "d/keep.txt"),
			[]*action{delRemoteDir("d"), delRemote("d/a.txt", 'a')},
			[]string{"delete-remote d", "delete-remote d/a.txt"}},
		{"nested directories", remote("d", "d/e", "d/e/f.txt"),
			[]*action{delRemoteDir("d"), delRemoteDir("d/e"), delRemote("d/e/f.txt", 'f')},
			[]string{"delete-remote d recursive", "delete-remote d/e covered", "delete-remote d/e/f.txt covered"}},
		{"an empty directory", remote("d"), []*action{delRemoteDir("d")}, []string{"delete-remote d recursive"}},
		{"a file is never recursive", remote("f.txt"), []*action{delRemote("f.txt", 'a')}, []string{"delete-remote f.txt"}},
		{"a child moved out (paired) is not deleted with it", remote("d", "d/a.txt"),
			[]*action{delRemoteDir("d"), paired(delRemote("d/a.txt", 'a'))},
			[]string{"delete-remote d", "delete-remote d/a.txt covered"}},

		// attacks
		{"a sibling sharing the prefix is not inside", remote("d", "d/a.txt", "dx", "dx/b.txt"),
			[]*action{delRemoteDir("d"), delRemote("d/a.txt", 'a')},
			[]string{"delete-remote d recursive", "delete-remote d/a.txt covered"}},
		{"a server entry not planned (hostile or ignored name) blocks the collapse", remote("d", "d/a.txt", "d/.syncspace/x.txt"),
			[]*action{delRemoteDir("d"), delRemote("d/a.txt", 'a')},
			[]string{"delete-remote d", "delete-remote d/a.txt"}},
		{"a file with children on the server is not collapsed", remote("f.txt", "f.txt/a.txt"),
			[]*action{delRemote("f.txt", 'a'), delRemote("f.txt/a.txt", 'b')},
			[]string{"delete-remote f.txt", "delete-remote f.txt/a.txt"}},
		{"names equal under case folding are one key", remote("D", "D/A.txt"),
			[]*action{delRemoteDir("d"), delRemote("d/a.txt", 'a')},
			[]string{"delete-remote d recursive", "delete-remote d/a.txt covered"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pl := planOf(c.acts...)
			collapseDeletes(pl, c.remote, nil)
			if got := render(pl); !slices.Equal(got, c.want) {
				t.Fatalf("collapseDeletes:\n got  %q\n want %q", got, c.want)
			}
		})
	}
}
