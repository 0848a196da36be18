package hub

import (
	"context"
	"encoding/json"

	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/spaceview"
)

// scopedSpace is a Space seen through a path-scoped token: the same rules as
// transport/spaceview's View (which the HTTP routes use), on the hub's smaller Space.
// Paths are checked by the scope's own functions, and replay pages are filtered by
// spaceview.Filter, so a scoped subscriber sees the same events on /ws as on
// /api/changes.
type scopedSpace struct {
	Space
	scope *pathscope.Scope
}

func (s scopedSpace) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	page, err := s.Space.Changes(ctx, since, epoch, limit)
	if err != nil {
		return page, err
	}
	l, _ := s.Space.(spaceview.Lister)
	return spaceview.Filter(ctx, s.scope, page, l)
}

func (s scopedSpace) Stat(ctx context.Context, path string) (protocol.Metadata, error) {
	if err := s.scope.CheckPath(path); err != nil {
		return protocol.Metadata{}, err
	}
	return s.Space.Stat(ctx, path)
}

func (s scopedSpace) Delete(ctx context.Context, path string, o tenants.DeleteOptions) (int64, error) {
	if err := s.scope.CheckPath(path); err != nil {
		return 0, err
	}
	return s.Space.Delete(ctx, path, o)
}

func (s scopedSpace) Mkdir(ctx context.Context, path string, src tenants.Source) (protocol.Metadata, bool, error) {
	if err := s.scope.CheckPath(path); err != nil {
		return protocol.Metadata{}, false, err
	}
	return s.Space.Mkdir(ctx, path, src)
}

func (s scopedSpace) Move(ctx context.Context, from, to, ifMatch string, src tenants.Source) (protocol.Metadata, error) {
	if err := s.scope.CheckMove(from, to); err != nil {
		return protocol.Metadata{}, err
	}
	return s.Space.Move(ctx, from, to, ifMatch, src)
}

// scopedItems is what a live event becomes for a scoped subscriber: the frames to
// queue, or replay set when the event moved a directory (or an ancestor of a prefix)
// into the scope, whose content only a read of the store can list; the subscriber
// then leaves the live set and replays from just before ev (through its
// scopedSpace's Changes, which lists that content) before going live again.
func scopedItems(scope *pathscope.Scope, ev *protocol.Event) (items []outItem, replay bool, err error) {
	evs, expand := scope.Events(*ev)
	if len(expand) > 0 {
		return nil, true, nil
	}
	for i := range evs {
		data, err := json.Marshal(&evs[i])
		if err != nil {
			return nil, false, err
		}
		items = append(items, prepareFrame(data))
	}
	return items, false, nil
}

// checkOpScope refuses a file Create or Update outside scope as not_found, as HTTP
// does (their content check would otherwise answer content_missing); Delete, Move
// and directory Create are checked by scopedSpace itself.
func checkOpScope(scope *pathscope.Scope, op protocol.Operation) error {
	switch {
	case scope == nil:
		return nil
	case op.Create != nil:
		return scope.CheckPath(op.Create.Metadata.Path)
	case op.Update != nil:
		return scope.CheckPath(op.Update.Metadata.Path)
	}
	return nil
}
