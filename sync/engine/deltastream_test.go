package engine

import (
	"slices"
	"testing"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// TestUnhashedLocalSide: a local file the scan left unhashed (deferHash; "?" below)
// is decided only as a plain upload over the base the server still holds; with the
// server moved on (it changed between the scan and the plan) or any other side, the
// key is left for the next pass, which hashes it: never a conflict copy or a delete
// decided without the local content's hash.
func TestUnhashedLocalSide(t *testing.T) {
	cases := []struct {
		name    string
		in      sides
		want    []string
		recheck bool
	}{
		{"server unchanged: upload", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "x"}}, []string{"upload a"}, false},
		// attacks
		{"server changed meanwhile", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "y"}}, nil, true},
		{"server deleted it meanwhile", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "x"}}, nil, true},
		{"server made it a directory", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "/"}}, nil, true},
		{"no base", sides{local: map[string]string{"a": "?"}, remote: map[string]string{"a": "x"}}, nil, true},
		{"no base, no remote", sides{local: map[string]string{"a": "?"}}, nil, true},
		{"base a directory", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "/"}, remote: map[string]string{"a": "/"}}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.in.book()
			k := pathrule.FoldKey("a")
			l := b.local[k]
			l.Hash = "" // unhashed
			b.local[k] = l
			pl := b.makePlan(allKeys(b))
			if got := render(pl); !slices.Equal(got, c.want) {
				t.Fatalf("plan %q, want %q", got, c.want)
			}
			if got := slices.Contains(pl.recheck, k); got != c.recheck {
				t.Fatalf("recheck %v, want %v", got, c.recheck)
			}
		})
	}
}
