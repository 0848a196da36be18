package tenants

import (
	"fmt"

	"github.com/syncspace/syncspace/sync/protocol"
)

// A group commit's answers to panics (bugs): the tenant's uploads go on, and what the
// batch had taken is given back.

// commitBatchSafely runs commitBatch and turns a panic inside it into an internal
// error for every member, so that the leader still hands over and wakes the members:
// a bug in one batch must not leave the tenant's later uploads waiting forever. A
// panic while the members are applied undoes them first (applyAll); files a batch
// panicking later left on disk are reconciled with the index by the watcher's rescan
// and at start-up.
func (s *committer) commitBatchSafely(members []*putReq) {
	defer func() {
		if p := recover(); p != nil {
			err := internal("commit", fmt.Errorf("panic: %v", p))
			s.log.Error("group commit panicked", "err", err, "members", len(members))
			for _, m := range members {
				m.meta, m.created, m.err = protocol.Metadata{}, false, err
			}
		}
	}()
	s.cm.commitBatch(members)
}

// applyAll applies the members of b in order (applyPut). If one panics, the members
// applied so far are undone, their disk changes and their share of the pending
// counters with them (undoBatch), before the panic goes on to commitBatchSafely:
// otherwise the tenant's quota and entry limit would shrink by them until a restart.
func (s *committer) applyAll(b *batch, members []*putReq) {
	defer func() {
		if p := recover(); p != nil {
			s.cm.undoBatch(b, internal("commit", fmt.Errorf("panic: %v", p)))
			panic(p)
		}
	}()
	for _, r := range members {
		r.err = s.cm.applyPut(b, r)
	}
}
