package engine

import (
	"fmt"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
)

// BenchmarkCollapseDeletesBigTree is the plan's last stage for 2000 directories (10
// files each) deleted here from a directory that stays, in a folder of 100k files:
// every deleted directory was matched against every key of the server's listing.
func BenchmarkCollapseDeletesBigTree(b *testing.B) {
	remote := map[string]protocol.Metadata{}
	var acts []*action
	for i := range 80_000 {
		p := fmt.Sprintf("keep%d/f%d.txt", i%100, i)
		remote[p] = protocol.Metadata{Path: p}
	}
	remote["gone"] = protocol.Metadata{Path: "gone", IsDirectory: true}
	remote["gone/kept.txt"] = protocol.Metadata{Path: "gone/kept.txt"} // gone itself stays
	for d := range 2000 {
		dir := fmt.Sprintf("gone/d%d", d)
		remote[dir] = protocol.Metadata{Path: dir, IsDirectory: true}
		acts = append(acts, &action{op: opDeleteRemote, key: dir, path: dir, r: remote[dir], rOK: true})
		for f := range 10 {
			p := fmt.Sprintf("%s/f%d.txt", dir, f)
			remote[p] = protocol.Metadata{Path: p}
			acts = append(acts, &action{op: opDeleteRemote, key: p, path: p, r: remote[p], rOK: true})
		}
	}
	for b.Loop() {
		pl := &plan{acts: acts}
		for _, a := range acts {
			a.covered, a.recursive = false, false
		}
		collapseDeletes(pl, remote, nil)
		if !acts[0].recursive || acts[1].recursive || !acts[1].covered {
			b.Fatal("not collapsed")
		}
	}
}
