package tenants

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// headMarkFile names, in a tenant's directory, the file that remembers the newest
// change this syncd has committed for the tenant, outside syncd.db. When syncd.db is
// restored from a backup, its change log is behind the mark; opening the space then
// starts a new epoch, so that clients which saw the lost changes resynchronise instead
// of trusting seqs that are about to be reused (SPEC §4: the epoch changes when the
// history is lost, e.g. a restore from backup).
//
// The mark is written at most once a second and when the space closes, without fsync:
// a mark lost in a crash is only behind the log, which never starts an epoch by
// mistake. A mark restored together with syncd.db (a whole data dir put back) cannot
// tell, so the docs ask operators who restore a whole data dir to remove it.
const headMarkFile = "head"

// headMark is the content of headMarkFile: "tid epoch seq\n".
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

// readHeadMark reads this tenant's mark; ok is false when there is none usable.
func (s *reconciler) readHeadMark() (headMark, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, headMarkFile))
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
	if m == s.marked || m.epoch == "" || (closed && !closing) {
		return
	}
	if err := writeFileAtomic(filepath.Join(s.dir, headMarkFile), []byte(m.String())); err != nil {
		s.log.Warn("write head mark", "err", err)
		return
	}
	s.marked = m
}

// removeHeadTemps removes temp files a crash left behind by writeFileAtomic.
func (s *reconciler) removeHeadTemps() {
	leftovers, _ := filepath.Glob(filepath.Join(s.dir, ".head-*"))
	for _, f := range leftovers {
		os.Remove(f)
	}
}

// writeFileAtomic replaces name with data (mode 0600) through a temp file and a
// rename in the same directory, without fsync.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".head-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o600)
	}
	if werr == nil {
		werr = os.Rename(tmp, name)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}
