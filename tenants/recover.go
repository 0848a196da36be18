package tenants

import (
	"context"
	"errors"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// recover brings the space to a consistent state when it is opened after a crash or
// after files were changed by hand while syncd was down: leftover temp files are
// removed, orphan versions dropped, and the index reconciled with the disk by
// committing ordinary change events (source_client "") so the log has no gap. The
// last step is left to the watcher when the space's start-up check is deferred
// (startcheck.go).
func (s *reconciler) recover(ctx context.Context) error {
	if err := s.rc.loadHead(ctx); err != nil {
		return err
	}
	if err := s.snap.clearUndo(ctx); err != nil {
		return err
	}
	if err := s.rc.cleanTmp(); err != nil {
		return err
	}
	if err := s.rc.cleanVersions(ctx); err != nil {
		return err
	}
	if s.start.counted != nil {
		s.start.countLater(s)
	} else if err := s.rc.loadCounters(ctx); err != nil {
		return err
	}
	if s.disk == nil || s.start.pending.Load() {
		return nil // no disk that people edit by hand, or the watcher checks it
	}
	if _, err := s.rc.reconcile(ctx, "", true); err != nil {
		return err
	}
	return nil
}

// loadHead reads epoch and head seq. It starts a new epoch when the history the
// clients may have seen is not the one in syncd.db: when the change log holds seqs
// beyond the recorded head (the promise "a seq is never reused" can no longer be
// checked; the new epoch starts after the highest seq), and when the head is behind
// the tenant's head mark (headmark.go: syncd.db restored from a backup).
func (s *reconciler) loadHead(ctx context.Context) error {
	epoch, head, maxSeq, err := s.reg.index.LoadHead(ctx, s.id)
	if errors.Is(err, index.ErrNoTenant) {
		return protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return err
	}
	s.rc.removeHeadTemps()
	mark, marked := s.rc.readHeadMark()
	changed := false
	switch {
	case maxSeq > head:
		epoch, head, changed = newID(), maxSeq, true
		s.log.Warn("change log ahead of its head: starting a new epoch", "seq", head)
	case marked && mark.tid == s.id && mark.epoch == epoch && mark.seq > head:
		epoch, changed = newID(), true
		s.log.Warn("the change log is behind the last committed change (syncd.db restored from a backup?): starting a new epoch",
			"seq", head, "last_committed", mark.seq)
	}
	if changed {
		if err := s.reg.index.SetHead(ctx, s.id, epoch, head); err != nil {
			return err
		}
	}
	s.hmu.Lock()
	s.epoch, s.seq = epoch, head
	s.hmu.Unlock()
	s.reg.seq.track(s.id, s.name, s.Space, epoch, head)
	s.rc.flushHeadMark()
	return nil
}

func (s *reconciler) loadCounters(ctx context.Context) error {
	used, n, err := s.reg.index.Usage(ctx, s.id)
	if err != nil {
		return err
	}
	s.hmu.Lock()
	s.used, s.entries = used, n
	s.hmu.Unlock()
	return nil
}

// cleanTmp removes everything in tmp/ (uploads interrupted by a crash).
func (s *reconciler) cleanTmp() error {
	names, err := s.blobs.Temps()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := s.blobs.RemoveTempAll(n); err != nil {
			return err
		}
	}
	if len(names) > 0 {
		s.log.Info("removed leftover temp files", "count", len(names))
	}
	return nil
}

// cleanVersions removes version files without a row and rows without a file.
func (s *reconciler) cleanVersions(ctx context.Context) error {
	names, err := s.blobs.Versions()
	if errors.Is(err, errors.ErrUnsupported) {
		return nil // versions are references to content: the index is the list
	}
	if err != nil {
		return err
	}
	onDisk := make(map[string]bool, len(names))
	for _, n := range names {
		onDisk[n] = true
	}
	ids, err := s.reg.index.VersionIDs(ctx, s.id)
	if err != nil {
		return err
	}
	var gone []string
	for _, id := range ids {
		if onDisk[id] {
			delete(onDisk, id)
		} else {
			gone = append(gone, id)
		}
	}
	for n := range onDisk {
		if err := s.blobs.RemoveVersionAll(n); err != nil {
			return err
		}
	}
	if err := s.reg.index.DeleteVersionRows(ctx, s.id, gone); err != nil {
		return err
	}
	if len(onDisk)+len(gone) > 0 {
		s.log.Info("dropped orphan versions", "files", len(onDisk), "rows", len(gone))
	}
	return nil
}
