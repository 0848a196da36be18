package tenants

import (
	"fmt"
	"strconv"
	"strings"
)

// The head mark is a file in a tenant's directory (DATA/tenants/NAME/head, through
// LocalDisk) that remembers the newest change this syncd has committed for the
// tenant, outside syncd.db. When syncd.db is
// restored from a backup, its change log is behind the mark; opening the space then
// starts a new epoch, so that clients which saw the lost changes resynchronise instead
// of trusting seqs that are about to be reused (SPEC §4: the epoch changes when the
// history is lost, e.g. a restore from backup).
//
// The mark is written at most once a second and when the space closes, without fsync:
// a mark lost in a crash is only behind the log, which never starts an epoch by
// mistake. A mark restored together with syncd.db (a whole data dir put back) cannot
// tell, so the docs ask operators who restore a whole data dir to remove it.

// headMark is the content of the mark: "tid epoch seq\n".
type headMark struct {
	tid, epoch string
	seq        int64
}

func (m headMark) String() string { return fmt.Sprintf("%s %s %d\n", m.tid, m.epoch, m.seq) }

// parseHeadMark decodes a mark; ok is false for anything malformed (a torn write).
func parseHeadMark(b []byte) (m headMark, ok bool) {
	f := strings.Fields(string(b))
	if len(f) != 3 || !strings.HasSuffix(string(b), "\n") {
		return headMark{}, false
	}
	seq, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || seq < 0 {
		return headMark{}, false
	}
	return headMark{tid: f[0], epoch: f[1], seq: seq}, true
}

// readHeadMark reads this tenant's mark; ok is false when there is none usable (or
// the store keeps none: no LocalDisk).
func (s *reconciler) readHeadMark() (headMark, bool) {
	if s.disk == nil {
		return headMark{}, false
	}
	b, err := s.disk.ReadHeadMark()
	if err != nil || len(b) > 256 {
		return headMark{}, false
	}
	return parseHeadMark(b)
}

// flushHeadMark writes the current head to the mark if it moved since the last
// write; not once the space is closed (close writes it last). Errors are logged: the
// mark only helps to notice a restore.
func (s *reconciler) flushHeadMark() { s.rc.writeHeadMark(false) }

func (s *reconciler) writeHeadMark(closing bool) {
	s.markMu.Lock()
	defer s.markMu.Unlock()
	s.hmu.Lock()
	m := headMark{tid: s.id, epoch: s.epoch, seq: s.seq}
	closed := s.closed
	s.hmu.Unlock()
	if m == s.marked || m.epoch == "" || (closed && !closing) || s.disk == nil {
		return
	}
	if err := s.disk.WriteHeadMark([]byte(m.String())); err != nil {
		s.log.Warn("write head mark", "err", err)
		return
	}
	s.marked = m
}

// removeHeadTemps removes temp files a crash left behind by a mark's write.
func (s *reconciler) removeHeadTemps() {
	if s.disk != nil {
		s.disk.RemoveHeadTemps()
	}
}
