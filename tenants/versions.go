package tenants

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/sqlite"
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
	rows, err := s.reg.store.Q().QueryContext(ctx, `SELECT id, size, hash, modified, replaced_at FROM tenant_versions
		WHERE tenant_id = ? AND fold = ? AND replaced_at >= ? ORDER BY replaced_at DESC, id`, s.id, pathrule.FoldKey(p), s.reg.versionCutoff())
	if err != nil {
		return nil, internal("read versions", err)
	}
	defer rows.Close()
	out := []protocol.Version{}
	for rows.Next() {
		var v protocol.Version
		var mod, at int64
		if err := rows.Scan(&v.ID, &v.Size, &v.Hash, &mod, &at); err != nil {
			return nil, internal("read versions", err)
		}
		v.Modified, v.ReplacedAt = time.Unix(0, mod).UTC(), time.Unix(0, at).UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, internal("read versions", err)
	}
	if len(out) == 0 {
		// Neither a current file nor any kept version: the path is unknown.
		e, err := s.lookupExact(ctx, s.reg.store.Q(), p)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, protocol.Errorf(protocol.CodeNotFound, "no such file")
		}
	}
	return out, nil
}

// versionCutoff is the oldest replaced_at (Unix ns) still retained.
func (r *Registry) versionCutoff() int64 {
	if r.limits.RetainVersions <= 0 {
		return 0
	}
	return time.Now().Add(-r.limits.RetainVersions).UnixNano()
}

// Deleted returns the files under dir ("" = everywhere) that were deleted within the
// version retention and do not exist now, each with its newest version, by path.
func (s *Space) Deleted(ctx context.Context, dir string) ([]DeletedEntry, error) {
	d, err := pathrule.CleanDir(dir)
	if err != nil {
		return nil, err
	}
	if err := s.alive(); err != nil {
		return nil, err
	}
	cond, args := sqlite.SubtreeWhere("v.path", d)
	rows, err := s.reg.store.Q().QueryContext(ctx, `SELECT v.path, v.fold, v.id, v.replaced_at, v.size, v.hash FROM tenant_versions v
		WHERE v.tenant_id = ? AND v.deleted = 1 AND v.replaced_at >= ? AND `+cond+`
		AND NOT EXISTS (SELECT 1 FROM tenant_entries e WHERE e.tenant_id = v.tenant_id AND e.fold = v.fold)
		ORDER BY v.fold, v.replaced_at DESC`, append([]any{s.id, s.reg.versionCutoff()}, args...)...)
	if err != nil {
		return nil, internal("read versions", err)
	}
	defer rows.Close()
	out := []DeletedEntry{}
	last := "\x00"
	for rows.Next() {
		var e DeletedEntry
		var fold string
		var at int64
		if err := rows.Scan(&e.Path, &fold, &e.Version, &at, &e.Size, &e.Hash); err != nil {
			return nil, internal("read versions", err)
		}
		if fold == last {
			continue
		}
		last = fold
		e.DeletedAt = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, internal("read versions", err)
	}
	return out, nil
}

// Restore writes the content of version versionID of path back, to path or to to if
// given, as a new change (Create or Update), and returns the new metadata. The version
// stays kept. not_found if the version is unknown or belongs to another path.
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
	var size, mod int64
	var hash string
	err = s.reg.store.Q().QueryRowContext(ctx, `SELECT size, hash, modified FROM tenant_versions WHERE tenant_id = ? AND id = ? AND fold = ?`,
		s.id, versionID, pathrule.FoldKey(p)).Scan(&size, &hash, &mod)
	if errors.Is(err, sql.ErrNoRows) {
		return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such version")
	}
	if err != nil {
		return protocol.Metadata{}, internal("read version", err)
	}
	f, err := openRegular(s.versions, versionID)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such version")
		}
		return protocol.Metadata{}, internal("open version", err)
	}
	defer f.Close()
	meta, _, err := s.Put(ctx, target, f, PutOptions{Size: size, SHA256: hash, Modified: time.Unix(0, mod), Source: src})
	if protocol.CodeOf(err) == protocol.CodeDigestMismatch {
		return protocol.Metadata{}, internal("restore", err) // the kept version is damaged
	}
	return meta, err
}

// prune removes expired versions of every tenant and change-log rows beyond the
// retention. Errors are logged.
func (r *Registry) prune(ctx context.Context) {
	if cut := r.versionCutoff(); cut > 0 {
		if _, err := r.dropVersions(ctx, `replaced_at < ?`, cut); err != nil && ctx.Err() == nil {
			r.log.Warn("prune versions", "err", err)
		}
	}
	if n := r.limits.RetainChanges; n > 0 {
		unlock := r.store.LockWrites()
		_, err := r.store.DB().ExecContext(ctx, `DELETE FROM tenant_changes WHERE seq <= (SELECT t.head_seq FROM tenants t WHERE t.id = tenant_changes.tenant_id) - ?`, n)
		unlock()
		if err != nil && ctx.Err() == nil {
			r.log.Warn("prune change log", "err", err)
		}
	}
}

// dropVersions removes up to 1000 versions matching where (oldest first): files first,
// then rows. It returns how many it removed.
func (r *Registry) dropVersions(ctx context.Context, where string, args ...any) (int, error) {
	total := 0
	for {
		rows, err := r.store.DB().QueryContext(ctx, `SELECT v.tenant_id, t.name, v.id FROM tenant_versions v JOIN tenants t ON t.id = v.tenant_id
			WHERE `+where+` ORDER BY v.replaced_at LIMIT 1000`, args...)
		if err != nil {
			return total, err
		}
		type vid struct{ tid, name, id string }
		var batch []vid
		for rows.Next() {
			var v vid
			if err := rows.Scan(&v.tid, &v.name, &v.id); err != nil {
				rows.Close()
				return total, err
			}
			batch = append(batch, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, err
		}
		if len(batch) == 0 {
			return total, nil
		}
		roots := map[string]*os.Root{}
		for _, v := range batch {
			root, ok := roots[v.name]
			if !ok {
				root, err = os.OpenRoot(filepath.Join(r.tenantDir(v.name), "versions"))
				if err != nil {
					root = nil
				}
				roots[v.name] = root
			}
			if root != nil {
				if err := root.Remove(v.id); err != nil && !errors.Is(err, fs.ErrNotExist) {
					r.log.Warn("remove version", "tenant", v.name, "err", err)
				}
			}
		}
		for _, root := range roots {
			if root != nil {
				root.Close()
			}
		}
		unlock := r.store.LockWrites()
		err = func() error {
			tx, err := r.store.DB().BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			for _, v := range batch {
				if _, err := tx.ExecContext(ctx, `DELETE FROM tenant_versions WHERE tenant_id = ? AND id = ?`, v.tid, v.id); err != nil {
					return err
				}
			}
			return tx.Commit()
		}()
		unlock()
		if err != nil {
			return total, err
		}
		total += len(batch)
		if len(batch) < 1000 {
			return total, nil
		}
	}
}

// pruneOldest removes up to n of the oldest versions across all tenants.
func (r *Registry) pruneOldest(ctx context.Context, n int) (int, error) {
	return r.dropVersions(ctx, `v.id IN (SELECT id FROM tenant_versions ORDER BY replaced_at LIMIT ?)`, n)
}
