package pathscope

import (
	"strings"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Expand asks the caller to send, after the events of Events, a Create for what now
// lies at Path: Path's own entry when Self is set (Events did not know its metadata),
// and every entry under it when it is a directory. The Creates carry the seq of the
// event that moved it into the scope.
type Expand struct {
	Path string
	Self bool
}

// Events returns what ev looks like to a holder of the scope: nothing for a change
// outside, ev itself for a change inside, and for a change across the boundary a
// Delete (moved or deleted out of sight) or a Create (moved in; a directory moved in
// also needs an Expand for its content). A nil scope returns ev unchanged.
func (s *Scope) Events(ev protocol.Event) ([]protocol.Event, []Expand) {
	if s == nil {
		return []protocol.Event{ev}, nil
	}
	op := ev.Operation
	switch {
	case op.Create != nil:
		return s.keepIf(ev, op.Create.Metadata.Path), nil
	case op.Update != nil:
		return s.keepIf(ev, op.Update.Metadata.Path), nil
	case op.Delete != nil:
		p := op.Delete.Metadata.Path
		if s.Contains(p) {
			return []protocol.Event{ev}, nil
		}
		var out []protocol.Event
		for _, under := range s.under(p) {
			out = append(out, synth(ev, protocol.OpDelete, protocol.Metadata{Path: under, IsDirectory: true, Seq: ev.Seq}))
		}
		return out, nil
	case op.Move != nil:
		return s.move(ev)
	}
	return nil, nil
}

func (s *Scope) keepIf(ev protocol.Event, p string) []protocol.Event {
	if s.Contains(p) {
		return []protocol.Event{ev}
	}
	return nil
}

// move maps a Move event: inside to inside stays a Move; inside to outside is a
// Delete of the source; outside to inside a Create of the target (plus its content);
// a move of an ancestor of a prefix moves that prefix's subtree, which is then
// deleted or created in the same way.
func (s *Scope) move(ev protocol.Event) ([]protocol.Event, []Expand) {
	mv := ev.Operation.Move
	from, md := mv.From, mv.Metadata
	fin, tin := s.Contains(from), s.Contains(md.Path)
	var (
		out []protocol.Event
		ex  []Expand
	)
	switch {
	case fin && tin:
		return []protocol.Event{ev}, nil
	case fin:
		gone := md
		gone.Path = from
		out = append(out, synth(ev, protocol.OpDelete, gone))
	case tin:
		out = append(out, synth(ev, protocol.OpCreate, md))
		if md.IsDirectory {
			ex = append(ex, Expand{Path: md.Path})
		}
	}
	// An ancestor of prefixes moved: what was at those prefixes is gone from there,
	// and what the target brings to prefixes under it is new there.
	if !fin {
		for _, old := range s.under(from) {
			out = append(out, synth(ev, protocol.OpDelete, protocol.Metadata{Path: old, IsDirectory: true, Seq: ev.Seq}))
		}
	}
	if !tin {
		for _, now := range s.under(md.Path) {
			ex = append(ex, Expand{Path: now, Self: true})
		}
	}
	return out, ex
}

// under returns, for a path that is a strict ancestor of prefixes, each such prefix
// spelt with dir's own segments followed by the prefix's remaining ones.
func (s *Scope) under(dir string) []string {
	if !s.IsAncestor(dir) {
		return nil
	}
	var out []string
	dk := pathrule.FoldKey(dir)
	for i, p := range s.paths {
		if dk == "" || strings.HasPrefix(s.keys[i], dk+"/") {
			out = append(out, rebase(p, dir, dir))
		}
	}
	return out
}

// rebase replaces the first len(segments(from)) segments of p by to.
func rebase(p, from, to string) string {
	n := 0
	if from != "" {
		n = strings.Count(from, "/") + 1
	}
	segs := strings.Split(p, "/")
	if n > len(segs) {
		return p
	}
	rest := strings.Join(segs[n:], "/")
	switch {
	case to == "":
		return rest
	case rest == "":
		return to
	}
	return to + "/" + rest
}

// synth is a new event of kind with md, keeping ev's seq and source.
func synth(ev protocol.Event, kind string, md protocol.Metadata) protocol.Event {
	out := protocol.Event{Type: ev.Type, Seq: ev.Seq, SourceClient: ev.SourceClient, SourceSubject: ev.SourceSubject}
	switch kind {
	case protocol.OpDelete:
		out.Operation.Delete = &protocol.OpMeta{Metadata: md}
	case protocol.OpCreate:
		out.Operation.Create = &protocol.OpMeta{Metadata: md}
	}
	return out
}
