// Paged listings when other nodes write the tenant too (cluster mode): the listing's
// lease of undo rows (index.UndoLeaser).

package tenants

import (
	"context"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// listLease is how long a listing's lease of undo rows lasts. A listing renews it
// between pages once a quarter of it has passed, and fails when a page comes after
// the lease may have ended (a client that takes minutes to read one page).
const listLease = 5 * time.Minute

// leasedFirstPage makes a listing whose first page sn did not end it (more pages
// follow) one snapshot across nodes: this node's commit section registers the
// snapshot for its own writers only, so on an index that other nodes write
// (index.UndoLeaser) it takes the tenant's undo lease, which every node's writes
// obey from then on, and reads the first page again at a new snapshot. On any other
// index, or on error, sn's snapshot is ended; otherwise the caller ends the new one.
func (s *snapshots) leasedFirstPage(ctx context.Context, sc listScope, d string, sn snapshot) (snapshot, []*entry, string, bool, error) {
	ul, ok := s.reg.index.(index.UndoLeaser)
	if !ok {
		return sn, nil, "", false, errors.ErrUnsupported
	}
	s.endSnapshot(sn.seq)
	asked := time.Now()
	if err := ul.LeaseUndo(ctx, s.id, listLease); err != nil {
		if errors.Is(err, index.ErrNoTenant) {
			return snapshot{}, nil, "", false, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
		}
		return snapshot{}, nil, "", false, wrapInternal("list", err)
	}
	sn, page, next, done, err := s.firstPage(ctx, d, sc)
	sn.leased = asked
	return sn, page, next, done, err
}

// renewLease renews sn's undo lease, if it has one, before its next page: once a
// quarter of it has passed; resync_required (list again) if it may have ended.
func (s *snapshots) renewLease(ctx context.Context, sn *snapshot) error {
	if sn.leased.IsZero() {
		return nil
	}
	age := time.Since(sn.leased)
	if age >= listLease {
		return protocol.Errorf(protocol.CodeResyncRequired, "the listing took too long to be read; list again")
	}
	if age < listLease/4 {
		return nil
	}
	asked := time.Now()
	if err := s.reg.index.(index.UndoLeaser).LeaseUndo(ctx, s.id, listLease); err != nil {
		return wrapInternal("list", err)
	}
	sn.leased = asked
	return nil
}
