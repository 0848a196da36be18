package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// PutOptions qualify an upload (SPEC §3).
type PutOptions struct {
	Size         int64        // Content-Length, -1 if unknown
	SHA256       string       // X-Content-SHA256 (hex), "" if absent
	IfMatch      string       // hash without quotes, "" if absent
	IfNoneMatch  bool         // If-None-Match: *
	Modified     time.Time    // X-Modified, zero = now
	Source       Source       // who uploads
	BeforeCommit func() error // called just before the commit (token still valid?); an error aborts the upload and is returned
}

// reserveStep is how much quota and free disk an upload of unknown size reserves at a
// time, and how often (in body bytes) an upload checks the free disk again.
const reserveStep = 1 << 20

// Put stores body as the content of path (SPEC §3): created is true when the path was
// new (201), false when it replaced a file (200), or when the content was already
// there (nothing changes: no event, no version). The content is checked (limits,
// quota, preconditions, digest) and written atomically; on any error nothing changes.
func (s *Space) Put(ctx context.Context, path string, body io.Reader, o PutOptions) (protocol.Metadata, bool, error) {
	p, err := pathrule.Clean(path)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	if o.SHA256 != "" {
		o.SHA256 = strings.ToLower(o.SHA256)
		if !isHexSHA256(o.SHA256) {
			return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeBadRequest, "X-Content-SHA256 must be 64 hex digits")
		}
	}
	return s.put(ctx, p, body, o)
}

func isHexSHA256(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// checkTarget applies the tree rules for writing a file (dir=false) or directory at
// p and returns the existing entry of p (exact case) and the missing ancestors,
// top-down.
func (s *Space) checkTarget(ctx context.Context, p string) (*entry, []string, error) {
	return s.checkTargetWith(ctx, p, s.lookupMany)
}

// lookupFunc returns the index entries of paths (matched under case folding) by fold
// key; a path without an entry is absent from the map or maps to nil.
type lookupFunc func(ctx context.Context, paths []string) (map[string]*entry, error)

// lookupMany is lookup of several paths in one query.
func (s *Space) lookupMany(ctx context.Context, paths []string) (map[string]*entry, error) {
	out := make(map[string]*entry, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(paths)+1)
	args = append(args, s.id)
	for _, p := range paths {
		args = append(args, pathrule.FoldKey(p))
	}
	rows, err := s.reg.store.Q().QueryContext(ctx, `SELECT fold, `+entryCols+` FROM tenant_entries WHERE tenant_id = ? AND fold IN (?`+
		strings.Repeat(", ?", len(paths)-1)+`)`, args...)
	if err != nil {
		return nil, internal("read index", err)
	}
	defer rows.Close()
	for rows.Next() {
		var fold string
		e, err := scanEntry(scanFunc(func(dest ...any) error { return rows.Scan(append([]any{&fold}, dest...)...) }))
		if err != nil {
			return nil, internal("read index", err)
		}
		out[fold] = e
	}
	if err := rows.Err(); err != nil {
		return nil, internal("read index", err)
	}
	return out, nil
}

// scanFunc adapts a function to scanEntry's scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// checkTargetWith is checkTarget reading the index through look (which may see writes
// of a batch not yet committed). The ancestors and p are looked up at once.
func (s *Space) checkTargetWith(ctx context.Context, p string, look lookupFunc) (*entry, []string, error) {
	segs := strings.Split(p, "/")
	paths := make([]string, len(segs))
	for i := range segs {
		paths[i] = strings.Join(segs[:i+1], "/")
	}
	found, err := look(ctx, paths)
	if err != nil {
		return nil, nil, err
	}
	var missing []string
	for _, a := range paths[:len(paths)-1] {
		if len(missing) > 0 {
			missing = append(missing, a)
			continue
		}
		e := found[pathrule.FoldKey(a)]
		switch {
		case e == nil:
			missing = append(missing, a)
		case e.Path != a:
			return nil, nil, protocol.Errorf(protocol.CodeConflict, "a directory with that name in another case exists")
		case !e.IsDir:
			return nil, nil, protocol.Errorf(protocol.CodeConflict, "a parent is a file")
		}
	}
	e := found[pathrule.FoldKey(p)]
	if e != nil && e.Path != p {
		return nil, nil, protocol.Errorf(protocol.CodeConflict, "a name differing only in case exists")
	}
	return e, missing, nil
}

func checkPutPreconditions(cur *entry, o PutOptions) error {
	if cur != nil && cur.IsDir {
		return protocol.Errorf(protocol.CodeConflict, "a directory exists at this path")
	}
	if o.IfNoneMatch && cur != nil {
		return protocol.Errorf(protocol.CodePreconditionFailed, "the path exists")
	}
	if o.IfMatch != "" && (cur == nil || !strings.EqualFold(cur.Hash, o.IfMatch)) {
		return protocol.Errorf(protocol.CodePreconditionFailed, "the current content differs")
	}
	return nil
}

// reserve adds n bytes to the upload reservations if the quota allows; base is the
// size the upload replaces (it does not count against the quota twice).
func (s *Space) reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	quota, _, _ := s.limits()
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if quota > 0 && s.used+s.pendingUsed+s.reserved+n > quota {
		return protocol.Errorf(protocol.CodeQuotaExceeded, "the tenant's quota is exceeded")
	}
	s.reserved += n
	return nil
}

func (s *Space) unreserve(n int64) {
	s.hmu.Lock()
	s.reserved -= n
	s.hmu.Unlock()
}

// ensureFree checks that the data dir keeps limits.MinFreeDisk free after writing need
// more bytes (and every upload's in-flight bytes), pruning versions if it would not
// (this tenant's oldest first); insufficient_storage if that is not enough. need > 0
// stays reserved until released with s.reg.releaseDisk.
func (s *Space) ensureFree(ctx context.Context, need int64) error {
	return s.reg.reserveDisk(ctx, s.id, need)
}

// upload is a temp file in tmp/ being written.
type upload struct {
	s        *Space
	name     string
	f        *os.File
	size     int64
	hash     string
	modified time.Time // the temp file's mtime as stored (X-Modified or receive time)
	reserved int64
	// disk is what the upload holds of the registry's in-flight disk bytes: the part
	// of its declared size (or of its last reservation step) not yet written.
	disk int64
}

// releaseDisk gives back what the upload still holds of the in-flight disk bytes.
func (u *upload) releaseDisk() {
	if u.disk != 0 {
		u.s.reg.releaseDisk(u.disk)
		u.disk = 0
	}
}

func (u *upload) discard() {
	if u.f != nil {
		u.f.Close()
		u.f = nil
	}
	if u.name != "" {
		_ = u.s.tmp.Remove(u.name)
		u.name = ""
	}
	if u.reserved > 0 {
		u.s.unreserve(u.reserved)
		u.reserved = 0
	}
	u.releaseDisk()
}

// receive streams body into a new temp file, hashing it and enforcing the size limit
// and the quota as it goes, then fsyncs and closes it.
func (s *Space) receive(ctx context.Context, body io.Reader, o PutOptions, replaced int64) (*upload, error) {
	_, maxFile, _ := s.limits()
	u := &upload{s: s}
	if o.Size >= 0 {
		if maxFile > 0 && o.Size > maxFile {
			return nil, protocol.Errorf(protocol.CodeTooLarge, "the file exceeds the maximum file size")
		}
		if err := s.reserve(o.Size - replaced); err != nil {
			return nil, err
		}
		u.reserved = max(o.Size-replaced, 0)
	}
	// Free disk: a declared size is reserved whole now; a body of unknown length is
	// reserved step by step as it arrives. Either way the check is repeated at least
	// every reserveStep bytes, and the reservation shrinks as bytes reach the disk.
	track := s.reg.tracksDisk()
	need := max(o.Size, 0)
	if err := s.ensureFree(ctx, need); err != nil {
		u.discard()
		return nil, err
	}
	if track {
		u.disk = need
	}
	var checked int64 // body bytes written at the last free-disk check
	u.name = "up-" + newID()
	f, err := s.tmp.OpenFile(u.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		u.name = ""
		u.discard()
		return nil, internal("create temp file", err)
	}
	u.f = f
	if err := f.Chmod(filePerm); err != nil {
		u.discard()
		return nil, internal("create temp file", err)
	}
	h := sha256.New()
	// A small declared body gets a buffer of its size (one byte more shows a body
	// longer than declared), not the full 256 KiB to allocate and clear.
	bufSize := 256 << 10
	if o.Size >= 0 && o.Size < int64(bufSize) {
		bufSize = max(int(o.Size)+1, 512)
	}
	buf := make([]byte, bufSize)
	for {
		if err := ctx.Err(); err != nil {
			u.discard()
			return nil, wrapInternal("upload", err)
		}
		n, rerr := body.Read(buf)
		if n > 0 {
			next := u.size + int64(n)
			if maxFile > 0 && next > maxFile {
				u.discard()
				return nil, protocol.Errorf(protocol.CodeTooLarge, "the file exceeds the maximum file size")
			}
			if o.Size >= 0 && next > o.Size {
				u.discard()
				return nil, protocol.Errorf(protocol.CodeBadRequest, "the body is longer than its declared size")
			}
			// Grow the reservation in steps when the size was not declared.
			if over := next - replaced - u.reserved; o.Size < 0 && over > 0 {
				step := max(over, reserveStep)
				err := s.reserve(step)
				if err != nil && step > over {
					step = over // near the quota: reserve exactly what is needed
					err = s.reserve(step)
				}
				if err != nil {
					u.discard()
					return nil, err
				}
				u.reserved += step
			}
			if track {
				if err := u.holdDisk(ctx, o.Size < 0, int64(n), &checked); err != nil {
					u.discard()
					return nil, err
				}
			}
			if _, err := f.Write(buf[:n]); err != nil {
				u.discard()
				if errors.Is(err, errNoSpace) {
					return nil, protocol.Errorf(protocol.CodeInsufficientStorage, "the server's disk is full")
				}
				return nil, internal("write temp file", err)
			}
			h.Write(buf[:n])
			u.size = next
			if track {
				// Written: now in the file system's own free figure.
				done := min(int64(n), u.disk)
				u.disk -= done
				s.reg.releaseDisk(done)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			u.discard()
			return nil, &protocol.Error{Code: protocol.CodeBadRequest, Message: "reading the body failed", Err: rerr}
		}
	}
	if o.Size >= 0 && u.size != o.Size {
		u.discard()
		return nil, protocol.Errorf(protocol.CodeBadRequest, "the body is shorter than its declared size")
	}
	u.releaseDisk() // the rest of the last step of a body of unknown length
	u.hash = hex.EncodeToString(h.Sum(nil))
	// The mtime is set before the fsync so that it is as durable as the content.
	mod := o.Modified
	if mod.IsZero() {
		mod = time.Now()
	}
	if err := s.tmp.Chtimes(u.name, mod, mod); err != nil {
		u.discard()
		return nil, internal("set mtime", err)
	}
	fi, err := f.Stat()
	if err != nil {
		u.discard()
		return nil, internal("stat temp file", err)
	}
	u.modified = fi.ModTime().UTC()
	if err := f.Sync(); err != nil {
		u.discard()
		return nil, internal("sync temp file", err)
	}
	if err := f.Close(); err != nil {
		u.f = nil
		u.discard()
		return nil, internal("close temp file", err)
	}
	u.f = nil
	if o.SHA256 != "" && o.SHA256 != u.hash {
		u.discard()
		return nil, protocol.Errorf(protocol.CodeDigestMismatch, "the content does not match X-Content-SHA256")
	}
	return u, nil
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

// put is Put for a clean path. The body is received, hashed and synced outside any
// lock; the commit goes through the space's group commit (commit.go).
func (s *Space) put(ctx context.Context, p string, body io.Reader, o PutOptions) (protocol.Metadata, bool, error) {
	if err := s.writable(); err != nil {
		return protocol.Metadata{}, false, err
	}
	// Checks before the body is read.
	cur, missing, err := s.checkTarget(ctx, p)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	if err := checkPutPreconditions(cur, o); err != nil {
		return protocol.Metadata{}, false, err
	}
	if err := s.checkEntries(cur == nil, len(missing)); err != nil {
		return protocol.Metadata{}, false, err
	}
	var replaced int64
	if cur != nil {
		replaced = cur.Size
	}
	small := o.Size >= 0 && o.Size <= gatherMaxSize
	if small {
		s.gc.receiving.Add(1)
	}
	u, err := s.receive(ctx, body, o, replaced)
	if err != nil {
		if small {
			s.gc.receiving.Add(-1)
		}
		return protocol.Metadata{}, false, err
	}
	defer u.discard()
	r := &putReq{ctx: ctx, p: p, o: o, u: u, small: small, wake: make(chan bool, 1)}
	s.commitPut(r)
	return r.meta, r.created, r.err
}

// checkEntries refuses a write that would add entries past the entry limit.
func (s *Space) checkEntries(isNew bool, parents int) error {
	add := int64(parents)
	if isNew {
		add++
	}
	_, _, maxEntries := s.limits()
	if add == 0 || maxEntries <= 0 {
		return nil
	}
	s.hmu.Lock()
	n := s.entries + s.pendingEntries
	s.hmu.Unlock()
	if n+add > maxEntries {
		return protocol.Errorf(protocol.CodeTooLarge, "the tenant's entry limit is reached")
	}
	return nil
}

// checkQuotaAtCommit checks the final size against the quota, counting other
// uploads' reservations (and the growth of earlier members of the batch being
// committed) but not this upload's own. cur is the entry the upload replaces as the
// batch sees it.
func (s *Space) checkQuotaAtCommit(u *upload, cur *entry) error {
	quota, _, _ := s.limits()
	if quota <= 0 {
		return nil
	}
	var old int64
	if cur != nil {
		old = cur.Size
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.used+s.pendingUsed-old+u.size+(s.reserved-u.reserved) > quota && u.size > old {
		return protocol.Errorf(protocol.CodeQuotaExceeded, "the tenant's quota is exceeded")
	}
	return nil
}

// makeParents creates the missing directories on disk (top-down), fsyncs the parents
// of those it created and returns them. An existing non-directory is conflict.
func (s *Space) makeParents(missing []string) ([]string, error) {
	created, err := s.makeParentsNoSync(missing)
	if err != nil {
		return nil, err
	}
	for _, d := range created {
		if err := syncDir(s.files, pathrule.Parent(d)); err != nil {
			s.removeDirs(created)
			return nil, internal("sync directory", err)
		}
	}
	return created, nil
}

// makeParentsNoSync is makeParents without the fsyncs: the caller syncs the parent of
// each created directory before it commits.
func (s *Space) makeParentsNoSync(missing []string) ([]string, error) {
	var created []string
	for _, d := range missing {
		ok, err := mkdirPrivate(s.files, d)
		if err != nil {
			s.removeDirs(created)
			if errors.Is(err, errNotDir) {
				return nil, protocol.Errorf(protocol.CodeConflict, "a parent is not a directory")
			}
			return nil, internal("create directory", err)
		}
		if ok {
			created = append(created, d)
		}
	}
	return created, nil
}

// removeDirs removes directories created for a write that failed (deepest first).
func (s *Space) removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = s.files.Remove(dirs[i])
	}
}

// addParents indexes the missing parent directories of a write (no events).
func (w *wtx) addParents(missing []string) error {
	now := time.Now().UTC()
	for _, d := range missing {
		if err := w.put(protocol.Metadata{Path: d, Modified: now, IsDirectory: true, Seq: w.seq + 1}, nil); err != nil {
			return err
		}
	}
	return nil
}
