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
}

// newIgnorer builds the matcher from the content of .syncignore (nil: none). The
// built-in patterns come first so that later `!` rules can undo them.
func newIgnorer(content []byte) *ignorer {
	var ps []gitignore.Pattern
	for _, b := range builtinIgnores {
		ps = append(ps, gitignore.ParsePattern(b, nil))
	}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		// "\#" and "\!" escape a leading # or !.
		if strings.HasPrefix(line, `\#`) || strings.HasPrefix(line, `\!`) {
			line = line[1:]
		}
		ps = append(ps, gitignore.ParsePattern(line, nil))
	}
	return &ignorer{m: gitignore.NewMatcher(ps)}
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
