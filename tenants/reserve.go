// Quota reservations shared by every node that writes a tenant (cluster mode).

package tenants

import (
	"context"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// sharedReserveMin is the smallest growth an upload reserves for every node
// (Deps.Reserver): smaller bodies cost little to refuse at
// the commit, and would pay a round trip on the tenant's head row each.
const sharedReserveMin = gatherMaxSize + 1

// releaseTimeout bounds the release of a shared reservation whose upload failed.
const releaseTimeout = 5 * time.Second

// reserveShared reserves the upload's growth n for every node (Deps.Reserver), if
// there is a Reserver, the tenant has a quota and n is not small: quota_exceeded at
// once when the bytes used and reserved on all nodes leave no room. The id is kept in
// u until the commit releases it or u.discard does.
func (s *committer) reserveShared(ctx context.Context, u *upload, n int64) error {
	rs := s.reg.reserver
	if quota, _, _ := s.limits(); rs == nil || quota <= 0 || n < sharedReserveMin {
		return nil
	}
	id, err := rs.Reserve(ctx, s.id, n)
	if errors.Is(err, index.ErrOverQuota) {
		return protocol.Errorf(protocol.CodeQuotaExceeded, "the tenant's quota is exceeded")
	}
	if err != nil {
		return wrapInternal("reserve quota", err)
	}
	u.shared = id
	return nil
}

// releaseShared ends the upload's shared reservation, if any (its upload failed or
// changed nothing).
func (u *upload) releaseShared() {
	if u.shared == "" {
		return
	}
	rs := u.s.reg.reserver
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := rs.Release(ctx, u.s.id, u.shared); err != nil {
		// Its lease ends it (pgindex: within a lease of this node's renewals).
		u.s.log.Warn("release quota reservation", "err", err)
	}
	u.shared = ""
}

// releaseInCommit ends, in the commit transaction w, the shared reservations of the
// batch's members, so that their bytes go from reserved to used in one step.
func releaseInCommit(w *wtx, done []*applied) error {
	var ids []string
	for _, a := range done {
		if id := a.r.u.shared; id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rt, ok := w.tx.(index.ReleaseTx)
	if !ok {
		return errors.New("tenants: shared quota reservations on an index whose transactions cannot release them")
	}
	return rt.ReleaseReservations(ids)
}
