package spaceview

import (
	"context"

	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Lister is what Filter reads to send the content of a directory moved into a scope:
// *tenants.Space implements it.
type Lister interface {
	Stat(ctx context.Context, path string) (protocol.Metadata, error)
	List(ctx context.Context, dir string, recursive bool, head func(epoch string, seq int64) error, each func(protocol.Metadata) error) error
}

// Filter returns page as scope sees it: events outside dropped, moves across the
// boundary turned into Delete or Create (with a Create of everything under a
// directory moved in, as it is now, read through l). page.Seq stays the last seq
// examined, so a scoped reader sees gaps in seq. A nil scope returns page unchanged;
// a nil l sends no content of a directory moved in (only its own Create).
func Filter(ctx context.Context, scope *pathscope.Scope, page protocol.ChangesPage, l Lister) (protocol.ChangesPage, error) {
	if scope == nil {
		return page, nil
	}
	out := make([]protocol.Event, 0, len(page.Events))
	for _, ev := range page.Events {
		evs, expand := scope.Events(ev)
		out = append(out, evs...)
		for _, ex := range expand {
			var err error
			if out, err = expandInto(ctx, out, ev, ex, l); err != nil {
				return page, err
			}
		}
	}
	page.Events = out
	return page, nil
}

// expandInto appends a Create (with ev's seq and source) for what now lies at ex.Path.
// What is gone by now is skipped: a later event of the page says so.
func expandInto(ctx context.Context, out []protocol.Event, ev protocol.Event, ex pathscope.Expand, l Lister) ([]protocol.Event, error) {
	if l == nil {
		return out, nil
	}
	create := func(m protocol.Metadata) {
		out = append(out, protocol.Event{
			Type: ev.Type, Seq: ev.Seq, SourceClient: ev.SourceClient, SourceSubject: ev.SourceSubject,
			Operation: protocol.Operation{Create: &protocol.OpMeta{Metadata: m}},
		})
	}
	isDir := !ex.Self
	if ex.Self {
		m, err := l.Stat(ctx, ex.Path)
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		create(m)
		isDir = m.IsDirectory
	}
	if !isDir {
		return out, nil
	}
	err := l.List(ctx, ex.Path, true, func(string, int64) error { return nil }, func(m protocol.Metadata) error {
		create(m)
		return nil
	})
	if protocol.CodeOf(err) == protocol.CodeNotFound {
		return out, nil
	}
	return out, err
}
