// Receiving an upload: the body streamed into a temp file in tmp/, hashed, checked
// against the size limit, the quota and the free disk as it arrives, then fsynced.

package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
)

// reserveStep is how much quota and free disk an upload of unknown size reserves at a
// time, and how often (in body bytes) an upload checks the free disk again.
const reserveStep = 1 << 20

// reserve adds n bytes to the upload reservations if the quota allows. Callers pass
// the growth only: the size the upload replaces does not count against the quota
// twice. In a cluster, a refusal is checked again against the index's counters
// (recount).
func (s *committer) reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	quota, _, _ := s.limits()
	try := func() bool {
		s.hmu.Lock()
		defer s.hmu.Unlock()
		if quota > 0 && s.used+s.pendingUsed+s.reserved+n > quota {
			return false
		}
		s.reserved += n
		return true
	}
	if try() || (recount(s.Space) && try()) {
		return nil
	}
	return protocol.Errorf(protocol.CodeQuotaExceeded, "the tenant's quota is exceeded")
}

func (s *committer) unreserve(n int64) {
	s.hmu.Lock()
	s.reserved -= n
	s.hmu.Unlock()
}

// ensureFree checks that the data dir keeps limits.MinFreeDisk free after writing need
// more bytes (and every upload's in-flight bytes), pruning versions if it would not
// (this tenant's oldest first); insufficient_storage if that is not enough. need > 0
// stays reserved until released with s.reg.releaseDisk.
func (s *committer) ensureFree(ctx context.Context, need int64) error {
	return s.reg.reserveDisk(ctx, s.id, need)
}

// upload is a temp file in tmp/ being written.
type upload struct {
	s        *Space
	name     string
	f        blob.Temp
	size     int64
	hash     string
	modified time.Time // the temp file's mtime as stored (X-Modified or receive time)
	reserved int64
	// shared is the id of its reservation in an index.Reserver ("" = none).
	shared string
	// disk is what the upload holds of the registry's in-flight disk bytes: the part
	// of its declared size (or of its last reservation step) not yet written.
	disk int64
	// chunks is the content's chunk list (sync/chunk) when it is large enough for
	// deltas, recorded as the body streamed in; nil otherwise.
	chunks []protocol.ChunkRef
	// started is how many bytes of the temp file have had their write-back started
	// (startWriteback).
	started int64
	// gathered: counted in the registry's receivers (and its space's
	// groupCommit.flushing) from its body's end to its joining the space's queue.
	gathered bool
}

// gather counts a small upload whose body has been received in full (gather.go).
func (u *upload) gather() {
	u.gathered = true
	u.s.gc.flushing.Add(1)
	u.s.reg.recv.add()
}

// arrived takes the upload off the counts gather added to, once.
func (u *upload) arrived() {
	if u.gathered {
		u.gathered = false
		u.s.gc.flushing.Add(-1)
		u.s.reg.recv.done()
	}
}

// releaseDisk gives back what the upload still holds of the in-flight disk bytes.
func (u *upload) releaseDisk() {
	if u.disk != 0 {
		u.s.reg.releaseDisk(u.disk)
		u.disk = 0
	}
}

func (u *upload) discard() {
	u.arrived()
	if u.f != nil {
		u.f.Close()
		u.f = nil
	}
	if u.name != "" {
		_ = u.s.blobs.RemoveTemp(u.name)
		u.name = ""
	}
	if u.reserved > 0 {
		u.s.cm.unreserve(u.reserved)
		u.reserved = 0
	}
	u.releaseShared()
	u.releaseDisk()
}

// receive streams body into a new temp file, hashing it and enforcing the size limit
// and the quota as it goes, then fsyncs and closes it. On an error, or a panic, it
// discards the upload: its reservations, and the gathering counts (gather) that would
// otherwise make every later batch wait its longest.
func (s *committer) receive(ctx context.Context, body io.Reader, o PutOptions, replaced int64) (*upload, error) {
	u := &upload{s: s.Space}
	received := false
	defer func() {
		if !received {
			u.discard()
		}
	}()
	_, maxFile, _ := s.limits()
	if o.Size >= 0 {
		if maxFile > 0 && o.Size > maxFile {
			return nil, protocol.Errorf(protocol.CodeTooLarge, "the file exceeds the maximum file size")
		}
		if err := s.cm.reserve(o.Size - replaced); err != nil {
			return nil, err
		}
		u.reserved = max(o.Size-replaced, 0)
		if err := s.cm.reserveShared(ctx, u, o.Size-replaced); err != nil {
			return nil, err
		}
	}
	// Free disk: a declared size is reserved whole now; a body of unknown length is
	// reserved step by step as it arrives. Either way the check is repeated at least
	// every reserveStep bytes, and the reservation shrinks as bytes reach the disk.
	need := max(o.Size, 0)
	if err := s.cm.ensureFree(ctx, need); err != nil {
		return nil, err
	}
	if s.reg.tracksDisk() {
		u.disk = need
	}
	u.name = "up-" + newID()
	f, err := s.blobs.CreateTemp(u.name)
	if err != nil {
		u.name = ""
		return nil, internal("create temp file", err)
	}
	u.f = f
	if err := u.copyBody(ctx, body, o, replaced, maxFile); err != nil {
		return nil, err
	}
	if smallUpload(o) {
		u.gather() // its flush is what the index's batch leader waits for
		if gatherFault != nil {
			gatherFault(s.name)
		}
	}
	if err := u.finish(o); err != nil {
		return nil, err
	}
	received = true
	return u, nil
}

// copyBody writes body to the temp file, hashing it, and checks the size limit, the
// declared size, the quota (growing the reservation of a body of unknown length) and
// the free disk as it goes. The caller discards u on error.
func (u *upload) copyBody(ctx context.Context, body io.Reader, o PutOptions, replaced, maxFile int64) error {
	track := u.s.reg.tracksDisk()
	var checked int64 // body bytes written at the last free-disk check
	h := sha256.New()
	rec := newChunkRecorder(body, o.Size)
	var hw io.Writer = h
	if w := rec.writer(); w != nil {
		hw = io.MultiWriter(h, w)
	}
	// A small declared body gets a buffer of its size (one byte more shows a body
	// longer than declared), not the full 256 KiB to allocate and clear.
	bufSize := 256 << 10
	if o.Size >= 0 && o.Size < int64(bufSize) {
		bufSize = max(int(o.Size)+1, 512)
	}
	bh := newBodyHash(hw, o.Size, bufSize)
	defer bh.wait()
	for {
		if err := ctx.Err(); err != nil {
			return wrapInternal("upload", err)
		}
		buf := bh.next()
		n, rerr := body.Read(buf)
		if n > 0 {
			next := u.size + int64(n)
			if maxFile > 0 && next > maxFile {
				return protocol.Errorf(protocol.CodeTooLarge, "the file exceeds the maximum file size")
			}
			if o.Size >= 0 && next > o.Size {
				return protocol.Errorf(protocol.CodeBadRequest, "the body is longer than its declared size")
			}
			// Grow the reservation in steps when the size was not declared.
			if over := next - replaced - u.reserved; o.Size < 0 && over > 0 {
				if err := u.reserveMore(over); err != nil {
					return err
				}
			}
			if track {
				if err := u.holdDisk(ctx, o.Size < 0, int64(n), &checked); err != nil {
					return err
				}
			}
			if _, err := u.f.Write(buf[:n]); err != nil {
				if fsys.IsNoSpace(err) {
					return protocol.Errorf(protocol.CodeInsufficientStorage, "the server's disk is full")
				}
				return internal("write temp file", err)
			}
			bh.add(buf[:n])
			u.size = next
			u.startWriteback()
			if track {
				// Written: now in the file system's own free figure.
				done := min(int64(n), u.disk)
				u.disk -= done
				u.s.reg.releaseDisk(done)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if pe := (*protocol.Error)(nil); errors.As(rerr, &pe) {
				return pe // a body that reports its own failure (a delta's bad_delta)
			}
			return &protocol.Error{Code: protocol.CodeBadRequest, Message: "reading the body failed", Err: rerr}
		}
	}
	if o.Size >= 0 && u.size != o.Size {
		return protocol.Errorf(protocol.CodeBadRequest, "the body is shorter than its declared size")
	}
	bh.wait()
	u.hash = hex.EncodeToString(h.Sum(nil))
	u.chunks = rec.done(u.size)
	return nil
}

// writebackStep is how many bytes of an upload are written before their write-back
// to the disk is started (blob.Writeback): the disk then works while the body
// streams in, and the final fsync of a large upload waits for little more than the
// last step.
const writebackStep = 8 << 20

// startWriteback starts the write-back of what the temp file got since the last
// start, once that is writebackStep or more (a store without blob.Writeback: never).
func (u *upload) startWriteback() {
	if u.size-u.started < writebackStep {
		return
	}
	if wb, ok := u.f.(blob.Writeback); ok {
		wb.StartWriteback(u.started, u.size-u.started)
	}
	u.started = u.size
}

// reserveMore grows the quota reservation of a body of unknown length by at least
// over bytes: reserveStep at a time, or exactly over near the quota.
func (u *upload) reserveMore(over int64) error {
	step := max(over, reserveStep)
	err := u.s.cm.reserve(step)
	if err != nil && step > over {
		step = over // near the quota: reserve exactly what is needed
		err = u.s.cm.reserve(step)
	}
	if err != nil {
		return err
	}
	u.reserved += step
	return nil
}

// finish gives back the rest of the disk reservation, sets the temp file's mtime,
// fsyncs and closes it, and checks X-Content-SHA256. The caller discards u on error.
func (u *upload) finish(o PutOptions) error {
	u.releaseDisk() // the rest of the last step of a body of unknown length
	// The mtime is set before the fsync so that it is as durable as the content.
	mod := o.Modified
	if mod.IsZero() {
		mod = time.Now()
	}
	stored, err := u.f.SetModTime(mod)
	if err != nil {
		return internal("set mtime", err)
	}
	u.modified = stored.UTC()
	if err := u.sync(o); err != nil {
		return internal("sync temp file", err)
	}
	err = u.f.Close()
	u.f = nil
	if err != nil {
		return internal("close temp file", err)
	}
	want := o.SHA256
	if want == "" && o.SHA256After != nil {
		want = o.SHA256After()
	}
	if want != "" && want != u.hash {
		return protocol.Errorf(protocol.CodeDigestMismatch, "the content does not match X-Content-SHA256")
	}
	return nil
}

// sync makes the temp file durable: a small upload's in a flush shared with the other
// files being flushed at the same time where the store can (blob.SharedSync: one
// syncfs for concurrent uploads and directories, of every tenant, where each would
// pay its own fsync; docs/BENCHMARKS.md, "Commits and small uploads: session 21"),
// a large one's on its own, so that small uploads never wait for its write-back.
func (u *upload) sync(o PutOptions) error {
	if s, ok := u.f.(blob.SharedSync); ok && smallUpload(o) { // copyBody kept it to its declared size
		return s.SyncShared()
	}
	return u.f.Sync()
}

// holdDisk runs before n more body bytes are written (u.size written so far). A body
// of unknown length (chunked) reserves another reserveStep (or n if larger) when its
// reservation is used up, which checks the free disk again; a declared body, reserved
// whole, checks again once reserveStep bytes were written since the last check.
func (u *upload) holdDisk(ctx context.Context, chunked bool, n int64, checked *int64) error {
	if chunked {
		if short := n - u.disk; short > 0 {
			step := max(short, reserveStep)
			if err := u.s.reg.reserveDisk(ctx, u.s.id, step); err != nil {
				return err
			}
			u.disk += step
			*checked = u.size
		}
		return nil
	}
	if u.size-*checked >= reserveStep {
		*checked = u.size
		return u.s.reg.reserveDisk(ctx, u.s.id, 0)
	}
	return nil
}
