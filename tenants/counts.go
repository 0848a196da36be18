// A cluster node's counters of a space (bytes used, entries) against the index's
// head row, which every node's commits change.

package tenants

import (
	"context"
	"time"

	"github.com/syncspace/syncspace/tenants/index"
)

// recountTimeout bounds recount's read of the index.
const recountTimeout = 5 * time.Second

// recountTries is how many times recount tries while this node's own commits of the
// space keep coming between its read and its store.
const recountTries = 3

// commitStarts marks an index write of s in progress for recount; commitEnds (always
// called once after it: when the write failed, or at publish) ends it. The caller of
// commitEnds holds s.hmu.
func commitStarts(s *Space) {
	s.hmu.Lock()
	s.cgen++
	s.cbusy++
	s.hmu.Unlock()
}

func commitEnds(s *Space) {
	s.cgen++
	s.cbusy--
}

// recount reloads s's counters from the index's head row when other nodes commit too
// (cluster mode), and reports whether it did. The counters of this node know only its
// own commits since the space opened, so a file another node deleted still counts
// here; the limit checks call recount before they refuse a write, and check again.
// The counters are set only if no commit of this node was in progress from before
// the read to after it (cgen, cbusy), so that a commit is never counted twice, once
// by the read and once by its publish.
func recount(s *Space) bool {
	if s.reg.inProcess {
		return false
	}
	for try := range recountTries {
		if try > 0 {
			time.Sleep(time.Duration(try) * 5 * time.Millisecond)
		}
		s.hmu.Lock()
		gen, busy := s.cgen, s.cbusy
		s.hmu.Unlock()
		if busy > 0 {
			continue
		}
		used, entries, err := readCounts(s.reg.index, s.id)
		if err != nil {
			s.log.Warn("read the tenant's counters", "err", err)
			return false
		}
		s.hmu.Lock()
		ok := s.cgen == gen
		if ok {
			s.used, s.entries = used, entries
		}
		s.hmu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// readCounts reads the tenant id's counters from idx: from its head row where the
// index keeps them there (index.HeadReader), else counted from the entries.
func readCounts(idx Index, id string) (used, entries int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), recountTimeout)
	defer cancel()
	hr, ok := idx.(index.HeadReader)
	if !ok {
		return idx.Usage(ctx, id)
	}
	heads, err := hr.Heads(ctx, []string{id})
	if err != nil {
		return 0, 0, err
	}
	h, ok := heads[id]
	if !ok {
		return 0, 0, index.ErrNoTenant
	}
	return h.Used, h.Entries, nil
}
