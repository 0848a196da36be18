package tenants

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/index"
)

// DeletedEntry is a path deleted within the version retention, with its newest kept
// version (GET /api/deleted).
type DeletedEntry struct {
	Path      string    `json:"path"`
	Version   string    `json:"version"`
	DeletedAt time.Time `json:"deleted_at"`
	Size      int64     `json:"size"`
	Hash      string    `json:"hash"`
}

// Versions returns the kept earlier contents of path, newest first: empty for a
// current file without versions, not_found for a path that has neither.
func (s *Space) Versions(ctx context.Context, path string) ([]protocol.Version, error) {
	p, err := pathrule.Clean(path)
	if err != nil {
		return nil, err
	}
	if err := s.alive(); err != nil {
		return nil, err
	}
	out, err := s.reg.index.Versions(ctx, s.id, p, s.reg.versionCutoff())
	if err != nil {
		return nil, internal("read versions", err)
	}
	if len(out) == 0 {
		// Neither a current file nor any kept version: the path is unknown.
		e, err := s.lookupExact(ctx, p)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, protocol.Errorf(protocol.CodeNotFound, "no such file")
		}
	}
	return out, nil
}

// versionCutoff is the oldest replacement time still retained (zero: all are).
func (r *Registry) versionCutoff() time.Time {
	if r.limits.RetainVersions <= 0 {
		return time.Time{}
	}
	return time.Now().Add(-r.limits.RetainVersions)
}

// deletedPageSize is how many paths one page of Deleted reads: one short read of the
// index each, so that the answer's memory and each read's length stay bounded
// however many files were deleted. A variable for tests.
var deletedPageSize = 256

// Deleted calls each, in fold-key order (by path, ignoring case), for every file under
// dir ("" = everywhere) deleted within the version retention that does not exist now,
// with its newest version. It reads the index a page at a time (deletedPageSize) and
// calls each between reads, never inside one; a path is given at most once, and one
// deleted or restored while the pages are read is given or not according to the page
// that reaches it. An error from each stops it and is returned.
func (s *Space) Deleted(ctx context.Context, dir string, each func(DeletedEntry) error) error {
	d, err := pathrule.CleanDir(dir)
	if err != nil {
		return err
	}
	since := s.reg.versionCutoff()
	for after, done := "", false; !done; {
		if err := s.alive(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return wrapInternal("read versions", err)
		}
		var page []index.DeletedFile
		page, after, done, err = s.reg.index.DeletedPage(ctx, s.id, d, since, after, deletedPageSize)
		if err != nil {
			return internal("read versions", err)
		}
		for _, e := range page {
			if err := each(DeletedEntry(e)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restore writes the content of version versionID of path back, to path or to to if
// given, as a new change (Create or Update), and returns the new metadata. The version
// stays kept. not_found if the version is unknown, belongs to another path or is past
// the version retention (no longer listed, even if not yet pruned).
func (s *Space) Restore(ctx context.Context, path, versionID, to string, src Source) (protocol.Metadata, error) {
	p, err := pathrule.Clean(path)
	if err != nil {
		return protocol.Metadata{}, err
	}
	target := p
	if to != "" {
		if target, err = pathrule.Clean(to); err != nil {
			return protocol.Metadata{}, err
		}
	}
	if err := s.writable(); err != nil {
		return protocol.Metadata{}, err
	}
	if to == "" {
		if target, err = storedSpelling(ctx, s, p); err != nil {
			return protocol.Metadata{}, err
		}
	}
	v, err := retainedVersion(ctx, s, p, versionID)
	if err != nil {
		return protocol.Metadata{}, err
	}
	f, err := s.blobs.OpenVersion(versionID, v.Hash)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such version")
		}
		return protocol.Metadata{}, internal("open version", err)
	}
	defer f.Close()
	meta, _, err := s.Put(ctx, target, f, PutOptions{Size: v.Size, SHA256: v.Hash, Modified: v.Modified, Source: src})
	if protocol.CodeOf(err) == protocol.CodeDigestMismatch {
		return protocol.Metadata{}, internal("restore", err) // the kept version is damaged
	}
	return meta, err
}

// storedSpelling is p spelt as the index has it: its longest prefix that exists
// (matched under case folding, as names are) in the stored spelling, followed by the
// rest of p. Restore without `to` writes a version back to its own file (found by
// folding, as versions are), not beside it under a second spelling (409).
func storedSpelling(ctx context.Context, s *Space, p string) (string, error) {
	for end := len(p); end > 0; end = strings.LastIndexByte(p[:end], '/') {
		e, err := s.lookup(ctx, p[:end])
		if err != nil {
			return "", err
		}
		if e != nil {
			return e.Path + p[end:], nil
		}
	}
	return p, nil
}

// retainedVersion returns version versionID of p in s (its size, hash and modified),
// not_found unless it is one and is still within the version retention: one replaced
// before it is no longer listed (Versions, Deleted) and must not be restorable either
// in the minute before prune removes it. With a retention, the one read is the listing
// of p's retained versions; without, the version's own row.
func retainedVersion(ctx context.Context, s *Space, p, versionID string) (protocol.Metadata, error) {
	cut := s.reg.versionCutoff()
	if cut.IsZero() {
		v, err := s.reg.index.Version(ctx, s.id, versionID, p)
		if errors.Is(err, index.ErrNoVersion) {
			return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such version")
		}
		if err != nil {
			return protocol.Metadata{}, internal("read version", err)
		}
		return v, nil
	}
	vs, err := s.reg.index.Versions(ctx, s.id, p, cut)
	if err != nil {
		return protocol.Metadata{}, internal("read versions", err)
	}
	for _, v := range vs {
		if v.ID == versionID {
			return protocol.Metadata{Path: p, Size: v.Size, Hash: v.Hash, Modified: v.Modified}, nil
		}
	}
	return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such version (or past retention.versions)")
}

// prune removes expired versions of every tenant and change-log rows beyond the
// retention, and (hourly) the chunk lists no file uses. Errors are logged.
func (r *Registry) prune(ctx context.Context) {
	// Each job checks the leadership (leading) just before it runs.
	if cut := r.versionCutoff(); !cut.IsZero() && leading(ctx, r.leader) {
		if _, err := r.dropVersions(ctx, "", cut, 0); err != nil && ctx.Err() == nil {
			r.log.Warn("prune versions", "err", err)
		}
	}
	if n := r.limits.RetainChanges; n > 0 && leading(ctx, r.leader) {
		if err := r.index.PruneChanges(ctx, n); err != nil && ctx.Err() == nil {
			r.log.Warn("prune change log", "err", err)
		}
	}
	if leading(ctx, r.leader) {
		r.chunks.sweep(ctx, r.index, r.log)
	}
}

// dropVersions removes the versions of tenant id ("" = of every tenant) replaced
// before before (zero: any time), oldest first: up to n, or all (in batches of 1000)
// for n = 0. Files go first, then rows. It returns how many it removed.
func (r *Registry) dropVersions(ctx context.Context, id string, before time.Time, n int) (int, error) {
	total := 0
	for {
		limit := 1000
		if n > 0 {
			limit = n
		}
		batch, err := r.index.OldestVersions(ctx, id, before, limit)
		if err != nil {
			return total, err
		}
		if len(batch) == 0 {
			return total, nil
		}
		for _, v := range batch {
			if err := r.blobs.RemoveVersion(blob.Tenant{Name: v.TenantName, ID: v.TenantID}, v.ID, ""); err != nil {
				r.log.Warn("remove version", "tenant", v.TenantName, "err", err)
			}
		}
		err = r.index.DeleteVersions(ctx, batch)
		if err != nil {
			return total, err
		}
		total += len(batch)
		if n > 0 || len(batch) < limit {
			return total, nil
		}
	}
}

// pruneOldest removes up to n of the oldest versions across all tenants.
func (r *Registry) pruneOldest(ctx context.Context, n int) (int, error) {
	return r.dropVersions(ctx, "", time.Time{}, n)
}
