// Package spaceview is a tenant's space as one token sees it: a *tenants.Space seen
// through the token's path scope (sync/pathscope). Every server route that reads or
// changes files (transport/api's files, listings, archive, changes, versions, deleted;
// transport/hub's operations and replay through Filter) reaches the space only through
// a View, so the scope is enforced in this one place, not route by route. Without a
// scope a View passes every call through unchanged.
package spaceview

import (
	"context"
	"io"

	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// View is a space limited to a scope. Its methods are those of *tenants.Space, with
// the scope's rules applied before (paths named) and after (answers filtered).
type View struct {
	sp    *tenants.Space
	scope *pathscope.Scope
}

// New returns sp seen through scope (nil: the whole space).
func New(sp *tenants.Space, scope *pathscope.Scope) *View {
	return &View{sp: sp, scope: scope}
}

// Scope returns the view's scope (nil for the whole space).
func (v *View) Scope() *pathscope.Scope { return v.scope }

// ID is the tenant's immutable id.
func (v *View) ID() string { return v.sp.ID() }

// Head is the space's epoch and last seq.
func (v *View) Head() (string, int64) { return v.sp.Head() }

// Usage is the tenant's usage (not a path: the same for every scope).
func (v *View) Usage(ctx context.Context) (protocol.Usage, error) { return v.sp.Usage(ctx) }

// List streams dir's entries: dir must be inside the scope or an ancestor of a
// prefix; under an ancestor only entries inside or ancestors themselves are shown.
func (v *View) List(ctx context.Context, dir string, recursive bool, head func(epoch string, seq int64) error, each func(protocol.Metadata) error) error {
	if err := v.scope.CheckDir(dir); err != nil {
		return err
	}
	if v.scope == nil || v.scope.Contains(dir) {
		return v.sp.List(ctx, dir, recursive, head, each)
	}
	return v.sp.List(ctx, dir, recursive, head, func(m protocol.Metadata) error {
		if !v.scope.Visible(m.Path) {
			return nil
		}
		return each(m)
	})
}

// Files streams the regular files under dir with their content (GET /api/archive):
// dir as in List, and only the files the scope shows; dirs adds the directories the
// scope shows (tenants.Files.WithDirs), each with a nil reader.
func (v *View) Files(ctx context.Context, dir string, dirs bool, head func(epoch string, seq int64) error, each func(protocol.Metadata, io.Reader) error) error {
	if err := v.scope.CheckDir(dir); err != nil {
		return err
	}
	var keep func(string) bool
	if v.scope != nil && !v.scope.Contains(dir) {
		keep = v.scope.Visible
	}
	f := tenants.NewFiles(v.sp)
	if dirs {
		f = f.WithDirs()
	}
	return f.Each(ctx, dir, keep, head, each)
}

// Stat returns path's metadata.
func (v *View) Stat(ctx context.Context, path string) (protocol.Metadata, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return protocol.Metadata{}, err
	}
	return v.sp.Stat(ctx, path)
}

// StatFile returns the metadata Open would return for the file at path, without
// opening it where the space can (tenants.Space.StatFile): for HEAD.
func (v *View) StatFile(ctx context.Context, path string) (protocol.Metadata, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return protocol.Metadata{}, err
	}
	return v.sp.StatFile(ctx, path)
}

// Open opens the file at path for reading.
func (v *View) Open(ctx context.Context, path string) (io.ReadSeekCloser, protocol.Metadata, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return nil, protocol.Metadata{}, err
	}
	return v.sp.Open(ctx, path)
}

// Put uploads body to path.
func (v *View) Put(ctx context.Context, path string, body io.Reader, o tenants.PutOptions) (protocol.Metadata, bool, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return protocol.Metadata{}, false, err
	}
	return v.sp.Put(ctx, path, body, o)
}

// Chunks returns the chunk list of the file at path (delta transfer).
func (v *View) Chunks(ctx context.Context, path string) (protocol.ChunkList, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return protocol.ChunkList{}, err
	}
	return tenants.NewDelta(v.sp).Chunks(ctx, path)
}

// PutDelta stores at path the content a delta op stream builds from its current one.
func (v *View) PutDelta(ctx context.Context, path string, ops io.Reader, o tenants.PutOptions) (protocol.Metadata, bool, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return protocol.Metadata{}, false, err
	}
	return tenants.NewDelta(v.sp).Put(ctx, path, ops, o)
}

// Delete deletes path.
func (v *View) Delete(ctx context.Context, path string, o tenants.DeleteOptions) (int64, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return 0, err
	}
	return v.sp.Delete(ctx, path, o)
}

// Mkdir creates the directory path.
func (v *View) Mkdir(ctx context.Context, path string, src tenants.Source) (protocol.Metadata, bool, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return protocol.Metadata{}, false, err
	}
	return v.sp.Mkdir(ctx, path, src)
}

// Move moves from to to: a source outside is not_found, a target outside forbidden.
func (v *View) Move(ctx context.Context, from, to, ifMatch string, src tenants.Source) (protocol.Metadata, error) {
	if err := v.scope.CheckMove(from, to); err != nil {
		return protocol.Metadata{}, err
	}
	return v.sp.Move(ctx, from, to, ifMatch, src)
}

// Versions lists path's kept versions.
func (v *View) Versions(ctx context.Context, path string) ([]protocol.Version, error) {
	if err := v.scope.CheckPath(path); err != nil {
		return nil, err
	}
	return v.sp.Versions(ctx, path)
}

// Deleted streams what was deleted under dir (tenants.Space.Deleted), inside the
// scope only.
func (v *View) Deleted(ctx context.Context, dir string, each func(tenants.DeletedEntry) error) error {
	if err := v.scope.CheckDir(dir); err != nil {
		return err
	}
	return v.sp.Deleted(ctx, dir, func(e tenants.DeletedEntry) error {
		if v.scope != nil && !v.scope.Contains(e.Path) {
			return nil
		}
		return each(e)
	})
}

// Restore writes a version of path back, to to if given (a target outside the scope
// is forbidden, as for a move).
func (v *View) Restore(ctx context.Context, path, versionID, to string, src tenants.Source) (protocol.Metadata, error) {
	check := v.scope.CheckPath(path)
	if to != "" {
		check = v.scope.CheckMove(path, to)
	}
	if check != nil {
		return protocol.Metadata{}, check
	}
	return v.sp.Restore(ctx, path, versionID, to, src)
}

// Changes is a page of the change log as the scope sees it (Filter).
func (v *View) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	page, err := v.sp.Changes(ctx, since, epoch, limit)
	if err != nil {
		return page, err
	}
	return Filter(ctx, v.scope, page, v.sp)
}
