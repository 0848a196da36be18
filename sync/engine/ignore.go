package engine

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// IgnoreFileName is the ignore file at the top of DIR (gitignore syntax). It is itself
// synced so that a team shares it.
const IgnoreFileName = ".syncignore"

// builtinIgnores are ignored unless a `!` rule in .syncignore undoes them (SPEC §1).
var builtinIgnores = []string{".DS_Store", "Thumbs.db", "desktop.ini", "~$*", ".~lock.*#"}

// ignorer decides which paths are out of sync's scope: the built-in rules and
// .syncignore (gitignore syntax, via go-git's matcher), plus the client's own state
// and temp names, which no rule can bring back.
type ignorer struct {
	m gitignore.Matcher
	// names holds, when every rule is a plain name rule (no '/' inside), the
	// literal prefix and suffix each rule's name pattern has: a path none of whose
	// segments has both of some rule can match no rule, so Ignored answers without
	// the matcher. nil when some rule is not a plain name rule.
	names []nameBounds
}

// nameBounds are the literal ends of a name pattern: a name it matches starts with
// prefix and ends with suffix (the bytes before the first and after the last of
// the pattern's special characters).
type nameBounds struct{ prefix, suffix string }

// newIgnorer builds the matcher from the content of .syncignore (nil: none). The
// built-in patterns come first so that later `!` rules can undo them.
func newIgnorer(content []byte) *ignorer {
	var ps []gitignore.Pattern
	var lines []string
	for _, b := range builtinIgnores {
		ps = append(ps, gitignore.ParsePattern(b, nil))
		lines = append(lines, b)
	}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		// "\#" and "\!" escape a leading # or !: the rule is for a name that begins
		// with it. The matcher would read a leading ! as a `!` rule again, so that one
		// becomes the class "[!]" (filepath.Match negates a class with ^ only, and has
		// no escape on Windows).
		if strings.HasPrefix(line, `\#`) {
			line = line[1:]
		} else if strings.HasPrefix(line, `\!`) {
			line = "[!]" + line[2:]
		}
		ps = append(ps, gitignore.ParsePattern(line, nil))
		lines = append(lines, line)
	}
	return &ignorer{m: gitignore.NewMatcher(ps), names: boundsOf(lines)}
}

// boundsOf returns the nameBounds of each rule line, or nil when one of them is not a
// plain name rule. A line is read as gitignore.ParsePattern reads it: a leading '!'
// and trailing spaces (unless escaped) dropped, then a trailing '/'.
func boundsOf(lines []string) []nameBounds {
	out := make([]nameBounds, 0, len(lines))
	for _, p := range lines {
		p = strings.TrimPrefix(p, "!")
		if !strings.HasSuffix(p, "\\ ") {
			p = strings.TrimRight(p, " ")
		}
		p = strings.TrimSuffix(p, "/")
		if strings.Contains(p, "/") {
			return nil
		}
		// filepath.Match's special characters, '\' among them (an escape, or on Windows
		// a separator): the literal ends stop before any of them.
		const special = `*?[]\`
		nb := nameBounds{prefix: p, suffix: p}
		if i := strings.IndexAny(p, special); i >= 0 {
			nb.prefix = p[:i]
			nb.suffix = p[strings.LastIndexAny(p, special)+1:]
		}
		out = append(out, nb)
	}
	return out
}

// mayMatch reports whether some rule could match the segment seg: false when seg
// lacks the literal prefix or suffix of every rule.
func (ig *ignorer) mayMatch(seg string) bool {
	for _, nb := range ig.names {
		if strings.HasPrefix(seg, nb.prefix) && strings.HasSuffix(seg, nb.suffix) {
			return true
		}
	}
	return false
}

// internalName reports whether one path segment belongs to the client itself
// (the state directory or a temp file) and so is never synced.
func internalName(seg string) bool {
	return strings.EqualFold(seg, stateDirName) || strings.HasPrefix(seg, tmpPrefix)
}

// Ignored reports whether the '/'-separated relative path p (a directory if dir) is out
// of scope: internal names at any depth, or a match of the rules on p or on any of its
// parent directories (git does not look inside an ignored directory).
func (ig *ignorer) Ignored(p string, dir bool) bool {
	if ig.names != nil && !ig.anyMayMatch(p) {
		return false
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if internalName(s) {
			return true
		}
	}
	for i := 1; i <= len(segs); i++ {
		isDir := dir || i < len(segs)
		if ig.m.Match(segs[:i], isDir) {
			return true
		}
	}
	return false
}

// anyMayMatch reports whether p has an internal segment or a segment some plain name
// rule could match (ig.names set). A name rule matches a path only through one of its
// segments, so when this is false no prefix of p matches any rule and p is not
// ignored.
func (ig *ignorer) anyMayMatch(p string) bool {
	for rest := p; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if internalName(seg) || ig.mayMatch(seg) {
			return true
		}
		if !more {
			return false
		}
		rest = tail
	}
}
