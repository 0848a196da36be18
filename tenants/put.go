package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/pathrule"
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

// reserveStep is how much quota an upload of unknown size reserves at a time.
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
	var missing []string
	segs := strings.Split(p, "/")
	for i := 1; i < len(segs); i++ {
		a := strings.Join(segs[:i], "/")
		if len(missing) > 0 {
			missing = append(missing, a)
			continue
		}
		e, err := s.lookup(ctx, s.reg.db, a)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case e == nil:
			missing = append(missing, a)
		case e.Path != a:
			return nil, nil, protocol.Errorf(protocol.CodeConflict, "a directory with that name in another case exists")
		case !e.IsDir:
			return nil, nil, protocol.Errorf(protocol.CodeConflict, "a parent is a file")
		}
	}
	e, err := s.lookup(ctx, s.reg.db, p)
	if err != nil {
		return nil, nil, err
	}
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
	if quota > 0 && s.used+s.reserved+n > quota {
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
// more bytes, pruning the oldest versions if it would not; insufficient_storage if
// that is not enough.
func (s *Space) ensureFree(ctx context.Context, need int64) error {
	return s.reg.ensureFree(ctx, need)
}

// upload is a temp file in tmp/ being written.
type upload struct {
	s        *Space
	name     string
	f        *os.File
	size     int64
	hash     string
	reserved int64
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
	need := o.Size
	if need < 0 {
		need = 0
	}
	if err := s.ensureFree(ctx, need); err != nil {
		u.discard()
		return nil, err
	}
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
	buf := make([]byte, 256<<10)
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
			if _, err := f.Write(buf[:n]); err != nil {
				u.discard()
				if errors.Is(err, errNoSpace) {
					return nil, protocol.Errorf(protocol.CodeInsufficientStorage, "the server's disk is full")
				}
				return nil, internal("write temp file", err)
			}
			h.Write(buf[:n])
			u.size = next
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
	u.hash = hex.EncodeToString(h.Sum(nil))
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

// put is Put for a clean path.
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
	u, err := s.receive(ctx, body, o, replaced)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	defer u.discard()

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return protocol.Metadata{}, false, err
	}
	// Check again in the commit section: the tree may have changed meanwhile.
	cur, missing, err = s.checkTarget(ctx, p)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	if err := checkPutPreconditions(cur, o); err != nil {
		return protocol.Metadata{}, false, err
	}
	if cur != nil && cur.Hash == u.hash {
		return cur.meta(), false, nil // identical content: nothing changes
	}
	if err := s.checkEntries(cur == nil, len(missing)); err != nil {
		return protocol.Metadata{}, false, err
	}
	if err := s.checkQuotaAtCommit(u, cur); err != nil {
		return protocol.Metadata{}, false, err
	}
	if o.BeforeCommit != nil {
		if err := o.BeforeCommit(); err != nil {
			return protocol.Metadata{}, false, err
		}
	}
	mod := o.Modified
	if mod.IsZero() {
		mod = time.Now()
	}
	if err := s.tmp.Chtimes(u.name, mod, mod); err != nil {
		return protocol.Metadata{}, false, internal("set mtime", err)
	}
	fi, err := s.tmp.Lstat(u.name)
	if err != nil {
		return protocol.Metadata{}, false, internal("stat temp file", err)
	}
	meta := protocol.Metadata{Path: p, Size: u.size, Modified: fi.ModTime().UTC(), Hash: u.hash}

	// Disk: parents, old content into versions/, new content into place.
	createdDirs, err := s.makeParents(missing)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	var versionID string
	if cur != nil {
		versionID = newID()
		if err := linkBetween(s.files, p, s.versions, versionID); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.removeDirs(createdDirs)
				return protocol.Metadata{}, false, diskErr("keep version", err)
			}
			versionID = "" // the old file vanished from disk: nothing to keep
		}
	}
	if err := moveBetween(s.tmp, u.name, s.files, p, cur == nil, false); err != nil {
		if versionID != "" {
			_ = s.versions.Remove(versionID)
		}
		s.removeDirs(createdDirs)
		if errors.Is(err, fs.ErrExist) {
			return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeConflict, "an unindexed file exists at this path")
		}
		return protocol.Metadata{}, false, diskErr("rename into place", err)
	}
	u.name = ""
	_, err = s.write(ctx, o.Source, func(w *wtx) error {
		if err := w.addParents(missing); err != nil {
			return err
		}
		op := protocol.OpCreate
		if cur != nil {
			op = protocol.OpUpdate
			if versionID != "" {
				if err := w.addVersion(versionID, p, cur, false); err != nil {
					return err
				}
			}
		}
		seq, err := w.event(op, "", meta)
		if err != nil {
			return err
		}
		meta.Seq = seq
		return w.put(meta, cur)
	})
	if err != nil {
		// Undo the disk: the old content back, or the new file away.
		if versionID != "" {
			if rerr := moveBetween(s.versions, versionID, s.files, p, false, true); rerr != nil {
				s.log.Error("undo failed upload", "err", rerr)
			}
		} else {
			_ = s.files.Remove(p)
		}
		s.removeDirs(createdDirs)
		return protocol.Metadata{}, false, err
	}
	return meta, cur == nil, nil
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
	n := s.entries
	s.hmu.Unlock()
	if n+add > maxEntries {
		return protocol.Errorf(protocol.CodeTooLarge, "the tenant's entry limit is reached")
	}
	return nil
}

// checkQuotaAtCommit checks the final size against the quota, counting other
// uploads' reservations but not this upload's own.
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
	if s.used-old+u.size+(s.reserved-u.reserved) > quota && u.size > old {
		return protocol.Errorf(protocol.CodeQuotaExceeded, "the tenant's quota is exceeded")
	}
	return nil
}

// makeParents creates the missing directories on disk (top-down) and returns those it
// created. An existing non-directory is conflict.
func (s *Space) makeParents(missing []string) ([]string, error) {
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
	for _, d := range created {
		if err := syncDir(s.files, pathrule.Parent(d)); err != nil {
			s.removeDirs(created)
			return nil, internal("sync directory", err)
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
