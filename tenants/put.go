package tenants

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
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
	// SHA256After, when SHA256 is "", gives the hash to check once the body was read
	// to its end (a delta's 'H' op); "" checks nothing.
	SHA256After func() string
}

// Put stores body as the content of path (SPEC §3): created is true when the path was
// new (201), false when it replaced a file (200), or when the content was already
// there (nothing changes: no event, no version). The content is checked (limits,
// quota, preconditions, digest) and written atomically; on any error nothing changes.
//
// The path is cleaned here, once. checkPut runs before the body is read (reading the
// metadata cache where it can: lookupManyCached) and again in the commit section
// (commit.go: applyPut); the body is received, hashed and synced outside any lock
// (upload.go), then committed through the space's group commit (commit.go), which
// writes the index, moves the content into place and publishes the commit on the bus.
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
	cur, _, err := s.cm.checkPut(ctx, p, o, s.cm.lookupManyCached)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	var replaced int64
	if cur != nil {
		replaced = cur.Size
	}
	small := smallUpload(o)
	u, err := s.gc.receive(small, func() (*upload, error) { return s.cm.receive(ctx, body, o, replaced) })
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	defer u.discard()
	r := &putReq{ctx: ctx, p: p, o: o, u: u, small: small, wake: make(chan bool, 1)}
	s.cm.commitPut(r)
	if r.err == nil {
		// The replaced content's chunk list goes; content under chunk.MinDeltaSize
		// never has one (lists are keyed by hash, and a hash by its content), so its
		// replacement costs no index write (most overwrites are of small files).
		var old string
		if cur != nil && cur.Size >= chunk.MinDeltaSize {
			old = cur.Hash
		}
		Delta{s}.keep(ctx, u, old)
	}
	return r.meta, r.created, r.err
}

// receive runs receive for an upload counted in g: a small one as being received
// (a gathering leader waits for it) until it joins the queue (commitPut), or, if it
// fails or panics, until it returns; any upload as its client's next one
// (clientBack).
func (g *groupCommit) receive(small bool, receive func() (*upload, error)) (*upload, error) {
	if !small {
		g.clientBack()
		return receive()
	}
	g.startReceiving()
	received := false
	defer func() {
		if !received {
			g.doneReceiving(0)
		}
	}()
	u, err := receive()
	received = err == nil
	return u, err
}

// checkPut is the one check of a PUT of the clean path p, made before the body is read
// (look = s.lookupMany) and again in the commit section (look = the batch's view of
// the index): the server is writable, the tree rules hold, the preconditions hold
// and the new entries fit the entry limit. It returns the entry p replaces (nil: a
// new path) and the missing ancestors, top-down. The quota is checked as the body
// arrives (receive) and at the commit (checkQuotaAtCommit).
func (s *committer) checkPut(ctx context.Context, p string, o PutOptions, look lookupFunc) (*entry, []string, error) {
	if err := s.writable(); err != nil {
		return nil, nil, err
	}
	cur, missing, err := s.checkTargetWith(ctx, p, look)
	if err != nil {
		return nil, nil, err
	}
	if err := checkPutPreconditions(cur, o); err != nil {
		return nil, nil, err
	}
	if err := s.cm.checkEntries(cur == nil, len(missing)); err != nil {
		return nil, nil, err
	}
	return cur, missing, nil
}

func isHexSHA256(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// checkTarget applies the tree rules for writing a file or directory at the clean path
// p and returns the existing entry of p (exact case; nil if none) and the missing
// ancestors, top-down. A parent that is a file, or a name differing only in case, is
// conflict.
func (s *Space) checkTarget(ctx context.Context, p string) (*entry, []string, error) {
	return s.cm.checkTargetWith(ctx, p, s.lookupMany)
}

// lookupFunc returns the index entries of paths (matched under case folding) by fold
// key; a path without an entry is absent from the map or maps to nil.
type lookupFunc func(ctx context.Context, paths []string) (map[string]*entry, error)

// lookupMany is lookup of several paths in one query.
func (s *Space) lookupMany(ctx context.Context, paths []string) (map[string]*entry, error) {
	found, err := s.reg.index.LookupMany(ctx, s.id, paths)
	if err != nil {
		return nil, internal("read index", err)
	}
	return found, nil
}

// checkTargetWith is checkTarget reading the index through look (which may see writes
// of a batch not yet committed). The ancestors and p are looked up at once.
func (s *committer) checkTargetWith(ctx context.Context, p string, look lookupFunc) (*entry, []string, error) {
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

// checkEntries refuses a write that would add entries past the entry limit. In a
// cluster, a refusal is checked again against the index's counters (recount).
func (s *committer) checkEntries(isNew bool, parents int) error {
	add := int64(parents)
	if isNew {
		add++
	}
	_, _, maxEntries := s.limits()
	if add == 0 || maxEntries <= 0 {
		return nil
	}
	fits := func() bool {
		s.hmu.Lock()
		defer s.hmu.Unlock()
		return s.entries+s.pendingEntries+add <= maxEntries
	}
	if fits() || (recount(s.Space) && fits()) {
		return nil
	}
	return protocol.Errorf(protocol.CodeTooLarge, "the tenant's entry limit is reached")
}

// checkQuotaAtCommit checks the final size against the quota, counting other
// uploads' reservations (and the growth of earlier members of the batch being
// committed) but not this upload's own. cur is the entry the upload replaces as the
// batch sees it. In a cluster, a refusal is checked again against the index's
// counters (recount).
func (s *committer) checkQuotaAtCommit(u *upload, cur *entry) error {
	quota, _, _ := s.limits()
	if quota <= 0 {
		return nil
	}
	var old int64
	if cur != nil {
		old = cur.Size
	}
	fits := func() bool {
		s.hmu.Lock()
		defer s.hmu.Unlock()
		return s.used+s.pendingUsed-old+u.size+(s.reserved-u.reserved) <= quota || u.size <= old
	}
	if fits() || (recount(s.Space) && fits()) {
		return nil
	}
	return protocol.Errorf(protocol.CodeQuotaExceeded, "the tenant's quota is exceeded")
}

// makeParents creates the missing directories on disk (top-down), fsyncs the parents
// of those it created and returns them. An existing non-directory is conflict.
func (s *committer) makeParents(missing []string) ([]string, error) {
	created, err := s.cm.makeParentsNoSync(missing)
	if err != nil {
		return nil, err
	}
	for _, d := range created {
		if err := s.blobs.SyncDir(pathrule.Parent(d)); err != nil {
			s.cm.removeDirs(created)
			return nil, internal("sync directory", err)
		}
	}
	return created, nil
}

// makeParentsNoSync is makeParents without the fsyncs: the caller syncs the parent of
// each created directory before it commits.
func (s *committer) makeParentsNoSync(missing []string) ([]string, error) {
	var created []string
	for _, d := range missing {
		ok, err := s.blobs.Mkdir(d)
		if err != nil {
			s.cm.removeDirs(created)
			if errors.Is(err, blob.ErrNotDir) {
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
func (s *committer) removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = s.blobs.Remove(dirs[i])
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
