package pathscope

import (
	"slices"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

func mustParse(t *testing.T, paths ...string) *Scope {
	t.Helper()
	s, err := Parse(paths)
	if err != nil {
		t.Fatalf("Parse(%q): %v", paths, err)
	}
	return s
}

func TestParse(t *testing.T) {
	if s, err := Parse(nil); s != nil || err != nil {
		t.Fatalf("Parse(nil) = %v, %v", s, err)
	}
	s := mustParse(t, "proj/a", "Proj/A/b", "docs", "proj/a")
	if got := s.Paths(); !slices.Equal(got, []string{"docs", "proj/a"}) {
		t.Fatalf("Paths = %q", got)
	}
	bad := []string{"", "/abs", "a/../b", "..", "a//b", "a/./b", "x\x00y", "a\\b", ".syncspace", "p/.SyncSpace/x", "con", "a\u202eb", "trail."}
	for _, p := range bad {
		if _, err := Parse([]string{p}); protocol.CodeOf(err) != protocol.CodeInvalidPath {
			t.Errorf("Parse(%q) = %v, want invalid_path", p, err)
		}
	}
	many := make([]string, MaxPrefixes+1)
	for i := range many {
		many[i] = string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if _, err := Parse(many); protocol.CodeOf(err) != protocol.CodeBadRequest {
		t.Fatalf("too many prefixes: %v", err)
	}
}

func TestRules(t *testing.T) {
	s := mustParse(t, "proj", "Team/Café")
	cases := []struct {
		name              string
		path              string
		contains, visible bool
	}{
		{"prefix itself", "proj", true, true},
		{"under prefix", "proj/x/y.txt", true, true},
		{"root is an ancestor", "", false, true},
		{"ancestor of nested prefix", "team", false, true},
		{"nested prefix NFC", "Team/Café", true, true},
		{"under nested prefix", "team/café/doc", true, true},
		{"sibling", "team/other", false, false},
		// attacks
		{"prefix trick proj vs project", "project", false, false},
		{"prefix trick proj vs proj.bak", "proj.bak/x", false, false},
		{"prefix trick proj vs pro", "pro", false, false},
		{"case folding", "PROJ/x", true, true},
		{"Kelvin sign folds to k", "team/caf\u00e9/\u212a", true, true},
		{"NFD spelling", "team/cafe\u0301/x", true, true},
		{"NFD ancestor", "Team", false, true},
		{"dotdot", "proj/../secret", false, false},
		{"leading slash", "/proj/x", false, false},
		{"backslash", "proj\\..\\secret", false, false},
		{"trailing slash", "proj/", false, false},
		{"double slash", "proj//x", false, false},
		{"dot segment", "proj/./x", false, false},
		{"empty", "", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.CheckPath(c.path)
			if (err == nil) != c.contains {
				t.Errorf("CheckPath(%q) = %v, want inside %v", c.path, err, c.contains)
			}
			if err != nil && c.contains == false && protocol.CodeOf(err) != protocol.CodeNotFound && protocol.CodeOf(err) != protocol.CodeInvalidPath {
				t.Errorf("CheckPath(%q) code %s", c.path, protocol.CodeOf(err))
			}
			err = s.CheckDir(c.path)
			if (err == nil) != c.visible {
				t.Errorf("CheckDir(%q) = %v, want visible %v", c.path, err, c.visible)
			}
		})
	}
}

func TestCheckMove(t *testing.T) {
	s := mustParse(t, "proj")
	for _, c := range []struct {
		from, to string
		code     protocol.Code
	}{
		{"proj/a", "proj/b", ""},
		{"proj/a", "PROJ/b", ""},
		{"secret", "proj/b", protocol.CodeNotFound},
		{"proj/a", "project/b", protocol.CodeForbidden},
		{"proj/a", "elsewhere", protocol.CodeForbidden},
		{"proj/a", "proj/../x", protocol.CodeInvalidPath},
	} {
		err := s.CheckMove(c.from, c.to)
		if got := protocol.CodeOf(err); (c.code == "") != (err == nil) || err != nil && got != c.code {
			t.Errorf("CheckMove(%q, %q) = %q, want %q", c.from, c.to, got, c.code)
		}
	}
}

func TestCovers(t *testing.T) {
	admin := mustParse(t, "proj")
	var whole *Scope
	for _, c := range []struct {
		name  string
		outer *Scope
		inner *Scope
		want  bool
	}{
		{"whole covers scoped", whole, admin, true},
		{"whole covers whole", whole, whole, true},
		{"narrower", admin, mustParse(t, "proj/a"), true},
		{"same in other case", admin, mustParse(t, "PROJ"), true},
		// attacks: widening
		{"whole tenant", admin, whole, false},
		{"sibling with the prefix as a prefix", admin, mustParse(t, "project"), false},
		{"one outside among several", admin, mustParse(t, "proj/a", "other"), false},
	} {
		if got := c.outer.Covers(c.inner); got != c.want {
			t.Errorf("%s: Covers = %v, want %v", c.name, got, c.want)
		}
	}
}

func ev(seq int64, op protocol.Operation) protocol.Event {
	return protocol.Event{Type: protocol.TypeFileOperation, Seq: seq, Operation: op, SourceClient: "c", SourceSubject: "s"}
}

func meta(p string, dir bool) protocol.Metadata {
	return protocol.Metadata{Path: p, IsDirectory: dir, Modified: time.Unix(0, 0).UTC()}
}

func move(seq int64, from, to string, dir bool) protocol.Event {
	return ev(seq, protocol.Operation{Move: &protocol.MoveOp{From: from, Metadata: meta(to, dir)}})
}

func kinds(evs []protocol.Event) []string {
	var out []string
	for _, e := range evs {
		switch {
		case e.Operation.Create != nil:
			out = append(out, "Create "+e.Operation.Create.Metadata.Path)
		case e.Operation.Update != nil:
			out = append(out, "Update "+e.Operation.Update.Metadata.Path)
		case e.Operation.Delete != nil:
			out = append(out, "Delete "+e.Operation.Delete.Metadata.Path)
		case e.Operation.Move != nil:
			out = append(out, "Move "+e.Operation.Move.From+" "+e.Operation.Move.Metadata.Path)
		}
	}
	return out
}

func TestEvents(t *testing.T) {
	s := mustParse(t, "proj/a")
	create := func(p string) protocol.Event {
		return ev(1, protocol.Operation{Create: &protocol.OpMeta{Metadata: meta(p, false)}})
	}
	del := func(p string, dir bool) protocol.Event {
		return ev(1, protocol.Operation{Delete: &protocol.OpMeta{Metadata: meta(p, dir)}})
	}
	for _, c := range []struct {
		name   string
		in     protocol.Event
		want   []string
		expand []Expand
	}{
		{"create inside", create("proj/a/x"), []string{"Create proj/a/x"}, nil},
		{"create folded inside", create("PROJ/A/x"), []string{"Create PROJ/A/x"}, nil},
		{"create outside", create("proj/b"), nil, nil},
		{"create of an ancestor", create("proj"), nil, nil},
		{"prefix trick", create("proj/ab"), nil, nil},
		{"delete inside", del("proj/a/x", false), []string{"Delete proj/a/x"}, nil},
		{"delete of an ancestor", del("Proj", true), []string{"Delete Proj/a"}, nil},
		{"delete outside", del("other", true), nil, nil},
		{"move inside", move(1, "proj/a/x", "proj/a/y", false), []string{"Move proj/a/x proj/a/y"}, nil},
		{"move out", move(1, "proj/a/x", "other/x", false), []string{"Delete proj/a/x"}, nil},
		{"file moved in", move(1, "other/x", "proj/a/x", false), []string{"Create proj/a/x"}, nil},
		{"dir moved in", move(1, "other/d", "proj/a/d", true), []string{"Create proj/a/d"}, []Expand{{Path: "proj/a/d"}}},
		{"move outside", move(1, "x", "y", false), nil, nil},
		{"ancestor moved away", move(1, "proj", "old", true), []string{"Delete proj/a"}, nil},
		{"ancestor moved in place", move(1, "new", "proj", true), nil, []Expand{{Path: "proj/a", Self: true}}},
		{"ancestor swapped for another", move(1, "proj", "proj2", true), []string{"Delete proj/a"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ex := s.Events(c.in)
			if !slices.Equal(kinds(got), c.want) {
				t.Errorf("events %q, want %q", kinds(got), c.want)
			}
			if !slices.Equal(ex, c.expand) {
				t.Errorf("expand %v, want %v", ex, c.expand)
			}
			for _, e := range got {
				if e.Seq != c.in.Seq || e.SourceClient != "c" || e.SourceSubject != "s" || e.Type != protocol.TypeFileOperation {
					t.Errorf("event lost seq or source: %+v", e)
				}
			}
		})
	}
	two := mustParse(t, "a/b", "c")
	got, ex := two.Events(move(1, "a", "c/a", true))
	if !slices.Equal(kinds(got), []string{"Create c/a", "Delete a/b"}) || !slices.Equal(ex, []Expand{{Path: "c/a"}}) {
		t.Fatalf("ancestor of one prefix moved into another: %q %v", kinds(got), ex)
	}
	var none *Scope
	if got, _ := none.Events(create("any")); len(got) != 1 {
		t.Fatalf("nil scope dropped an event")
	}
}

func FuzzScopePath(f *testing.F) {
	for _, s := range []string{"proj", "proj/x", "project", "PROJ", "cafe\u0301", "a/../proj", "\u212a", "proj/"} {
		f.Add("proj", s)
	}
	f.Fuzz(func(t *testing.T, prefix, p string) {
		s, err := Parse([]string{prefix})
		if err != nil || s == nil {
			return
		}
		in := s.CheckPath(p) == nil
		if in && !s.Visible(p) {
			t.Fatalf("%q inside %q but not visible", p, prefix)
		}
		if in {
			// Inside means: a clean path whose folded segments start with the prefix's.
			if s.CheckDir(p) != nil {
				t.Fatalf("%q inside but CheckDir refuses", p)
			}
		}
		if s.Contains("") {
			t.Fatalf("root inside a scope")
		}
		if again, err := Parse(s.Paths()); err != nil || !Equal(again, s) {
			t.Fatalf("Paths do not parse back: %v", err)
		}
	})
}
