// Package pathscope is the path scope of a token (the `paths` claim): a set of
// subtrees outside which nothing exists for the token's holder. It answers the three
// questions every server route asks, in one place: is a path inside (Contains), is it
// visible in a listing (inside, or an ancestor directory of a prefix), and what a
// change event looks like to the holder (Events: dropped, kept, or a move across the
// boundary turned into a Create or a Delete).
//
// Prefixes are whole paths: `proj` covers `proj` and `proj/x`, never `project`.
// Comparisons use pathrule.FoldKey, the same NFC plus case folding under which two
// names are the same name, so no spelling of a path reaches around its scope.
package pathscope

import (
	"slices"
	"strings"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// MaxPrefixes bounds the number of prefixes of one scope.
const MaxPrefixes = 32

// Scope is a non-empty set of path prefixes. A nil *Scope is the whole tenant: every
// method then answers as if there were no scope.
type Scope struct {
	paths []string // cleaned (NFC) as given, sorted by key
	keys  []string // FoldKey of each path
}

// Parse builds a scope from the `paths` claim or a --path list. No prefix means no
// scope (nil, nil). Each prefix must pass pathrule.Clean (so "", "..", NUL, bidi and
// the like are invalid_path); duplicates under folding and prefixes inside another
// prefix are dropped; more than MaxPrefixes is bad_request.
func Parse(paths []string) (*Scope, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	if len(paths) > MaxPrefixes {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "at most %d path prefixes", MaxPrefixes)
	}
	type pk struct{ p, k string }
	all := make([]pk, 0, len(paths))
	for _, raw := range paths {
		p, err := pathrule.Clean(raw)
		if err != nil {
			return nil, err
		}
		all = append(all, pk{p, pathrule.FoldKey(p)})
	}
	// Shortest first, so that a prefix inside an earlier one is seen as covered.
	slices.SortFunc(all, func(a, b pk) int {
		if d := len(a.k) - len(b.k); d != 0 {
			return d
		}
		return strings.Compare(a.k, b.k)
	})
	s := &Scope{}
	for _, e := range all {
		if s.containsKey(e.k) {
			continue
		}
		s.paths = append(s.paths, e.p)
		s.keys = append(s.keys, e.k)
	}
	return s, nil
}

// Paths returns the prefixes (nil for no scope).
func (s *Scope) Paths() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.paths)
}

// Equal reports whether a and b cover the same subtrees.
func Equal(a, b *Scope) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return slices.Equal(a.keys, b.keys)
}

// Covers reports whether every subtree of inner lies inside s: an admin may issue only
// scopes its own scope covers. A nil s covers everything; a nil inner (the whole
// tenant) is covered only by a nil s.
func (s *Scope) Covers(inner *Scope) bool {
	if s == nil {
		return true
	}
	if inner == nil {
		return false
	}
	for _, k := range inner.keys {
		if !s.containsKey(k) {
			return false
		}
	}
	return true
}

func (s *Scope) containsKey(k string) bool {
	for _, pk := range s.keys {
		if pathrule.Within(k, pk) {
			return true
		}
	}
	return false
}

// Contains reports whether the clean path p is inside the scope. The root is inside
// only a nil scope.
func (s *Scope) Contains(p string) bool {
	if s == nil {
		return true
	}
	if p == "" {
		return false
	}
	return s.containsKey(pathrule.FoldKey(p))
}

// IsAncestor reports whether the clean directory path dir ("" for the root) is a
// strict ancestor of a prefix: shown in listings, but holding nothing else visible.
func (s *Scope) IsAncestor(dir string) bool {
	if s == nil {
		return false
	}
	k := pathrule.FoldKey(dir)
	for _, pk := range s.keys {
		if pk != k && pathrule.Within(pk, k) {
			return true
		}
	}
	return false
}

// Visible reports whether a listing shows p: inside, or an ancestor of a prefix.
func (s *Scope) Visible(p string) bool {
	return s.Contains(p) || s.IsAncestor(p)
}

// CheckPath is the rule for a path a request names: it is cleaned first (a path
// breaking the rules is invalid_path, whatever the scope), and outside the scope it
// does not exist (not_found). A nil scope checks nothing.
func (s *Scope) CheckPath(p string) error {
	if s == nil {
		return nil
	}
	c, err := pathrule.Clean(p)
	if err != nil {
		return err
	}
	if s.Contains(c) {
		return nil
	}
	return errNotFound()
}

// CheckDir is the rule for a directory a listing names ("" the root): inside, or an
// ancestor of a prefix; anything else is not_found.
func (s *Scope) CheckDir(dir string) error {
	if s == nil {
		return nil
	}
	c, err := pathrule.CleanDir(dir)
	if err != nil {
		return err
	}
	if s.Visible(c) {
		return nil
	}
	return protocol.Errorf(protocol.CodeNotFound, "no such directory")
}

// CheckMove is the rule for a move (or a restore to another path): a source outside
// is not_found, a target outside is forbidden.
func (s *Scope) CheckMove(from, to string) error {
	if err := s.CheckPath(from); err != nil {
		return err
	}
	if err := s.CheckPath(to); err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			return protocol.Errorf(protocol.CodeForbidden, "the target is outside this token's paths")
		}
		return err
	}
	return nil
}

// errNotFound is the answer for anything outside: the same as for a missing path.
func errNotFound() error { return protocol.Errorf(protocol.CodeNotFound, "no such file") }
