package engine

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIgnoredNameBoundsExact checks the shortcut of Ignored (a path whose segments
// have the literal ends of no rule is not ignored, without the matcher) against the
// matcher alone, on random rule sets and paths built from a small alphabet with
// gitignore's and filepath.Match's special characters.
func TestIgnoredNameBoundsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(alpha string, n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteByte(alpha[rng.IntN(len(alpha))])
		}
		return b.String()
	}
	const ruleAlpha = "ab.*?[]!\\ #~$"
	const nameAlpha = "ab.~$ #["
	shortcuts := 0
	for round := 0; round < 3000; round++ {
		var lines []string
		for i := rng.IntN(4); i > 0; i-- {
			l := pick(ruleAlpha, 1+rng.IntN(5))
			switch rng.IntN(6) {
			case 0:
				l = "!" + l
			case 1:
				l += "/"
			case 2:
				l += " "
			}
			lines = append(lines, l)
		}
		ig := newIgnorer([]byte(strings.Join(lines, "\n")))
		ref := &ignorer{m: ig.m}
		if ig.names != nil {
			shortcuts++
		}
		for j := 0; j < 40; j++ {
			segs := make([]string, 1+rng.IntN(3))
			for k := range segs {
				segs[k] = pick(nameAlpha, 1+rng.IntN(6))
			}
			p, dir := strings.Join(segs, "/"), rng.IntN(2) == 0
			if got, want := ig.Ignored(p, dir), ref.Ignored(p, dir); got != want {
				t.Fatalf("rules %q: Ignored(%q, %v) = %v, matcher alone says %v", lines, p, dir, got, want)
			}
		}
	}
	if shortcuts < 1000 {
		t.Fatalf("only %d rule sets took the shortcut: the test checks too little", shortcuts)
	}
}

// TestIgnoredBuiltins checks the built-in rules through the shortcut.
func TestIgnoredBuiltins(t *testing.T) {
	ig := newIgnorer(nil)
	if ig.names == nil {
		t.Fatal("the built-in rules are plain name rules: the shortcut should apply")
	}
	for p, want := range map[string]bool{
		"a/.DS_Store": true, "Thumbs.db": true, "x/desktop.ini/y": true, "d/~$doc.docx": true,
		".~lock.report.odt#": true, "a/.syncspace": true, "a/" + tmpPrefix + "1": true,
		"init/d05/f00005.bin": false, ".DS_Store2": false, ".~lock.x": false, "Thumbs.DB": false,
	} {
		if got := ig.Ignored(p, false); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", p, got, want)
		}
	}
}

func BenchmarkIgnored(b *testing.B) {
	ig := newIgnorer(nil)
	for i := 0; i < b.N; i++ {
		ig.Ignored("init/d05/f00005.bin", false)
	}
}

// TestIgnoredEscapedBang: "\!name" is a rule for a name that begins with "!" (as in
// git), not a `!` rule undoing "name".
func TestIgnoredEscapedBang(t *testing.T) {
	ig := newIgnorer([]byte("*.log\n\\!keep.log\n\\!draft\n\\#notes\n"))
	for p, want := range map[string]bool{
		"!keep.log": true, "d/!keep.log": true, "keep.log": true, "a.log": true, "#notes": true,
		"!draft": true, "d/!draft": true, "draft": false, "!keep.txt": false, "notes": false,
	} {
		if got := ig.Ignored(p, false); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", p, got, want)
		}
	}
	undo := newIgnorer([]byte("*.log\n\\!keep.log\n!keep.log\n"))
	if undo.Ignored("keep.log", false) || !undo.Ignored("!keep.log", false) {
		t.Error("a `!` rule after the escaped one does not undo *.log for keep.log alone")
	}
}
