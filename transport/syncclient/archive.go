package syncclient

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

var _ engine.Archiver = (*Client)(nil)

// Legacy PAX record keys of a /api/archive entry (servers before the "comment" form of
// protocol.ArchiveComment); still accepted.
const (
	paxHash = protocol.ArchiveLegacyPAXHash
	paxSeq  = protocol.ArchiveLegacyPAXSeq
)

// Archive implements engine.Archiver: GET /api/archive?path=dir, read as a tar stream.
// A server without the route answers 404 or 405, which the engine takes as "no
// archive" and downloads file by file.
func (c *Client) Archive(ctx context.Context, dir string) (engine.ArchiveReader, error) {
	d, err := pathrule.CleanDir(dir)
	if err != nil {
		return nil, err
	}
	var q url.Values
	if d != "" {
		q = url.Values{"path": {d}}
	}
	resp, err := c.archive(ctx, q)
	if err != nil {
		return nil, err
	}
	ar := DecodeArchive(resp.Body, d)
	ar.closer = resp.Body
	return ar, nil
}

// headerArchiveDirs is the answer's header that says dirs=1 was understood.
const headerArchiveDirs = "X-Archive-Dirs"

var _ engine.TreeArchiver = (*Client)(nil)

// ArchiveTree implements engine.TreeArchiver: GET /api/archive?dirs=1, the whole tree
// with its directories, its head from X-Sync-Epoch and X-Sync-Seq. An answer without
// X-Archive-Dirs: 1 (a server before dirs=1, which ignores the parameter) is closed
// unread and engine.ErrNoTree returned.
func (c *Client) ArchiveTree(ctx context.Context) (engine.TreeReader, error) {
	resp, err := c.archive(ctx, url.Values{"dirs": {"1"}})
	if err != nil {
		return nil, err
	}
	if resp.Header.Get(headerArchiveDirs) != "1" {
		resp.Body.Close()
		return nil, engine.ErrNoTree
	}
	epoch := resp.Header.Get("X-Sync-Epoch")
	seq, err := strconv.ParseInt(resp.Header.Get("X-Sync-Seq"), 10, 64)
	if epoch == "" || err != nil || seq < 0 {
		resp.Body.Close()
		return nil, protocol.Errorf(protocol.CodeInternal, "archive answer without a valid X-Sync-Epoch and X-Sync-Seq")
	}
	ar := DecodeArchive(resp.Body, "")
	ar.closer, ar.dirs, ar.epoch, ar.seq = resp.Body, true, epoch, seq
	return ar, nil
}

// archive sends GET /api/archive with query q and checks that the answer is a tar.
func (c *Client) archive(ctx context.Context, q url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL("/api/archive", q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-tar" {
		resp.Body.Close()
		return nil, protocol.Errorf(protocol.CodeInternal, "archive answer is not a tar (%q)", mt)
	}
	return resp, nil
}

// ArchiveReader decodes a /api/archive body. Every entry is checked like every path
// received from the server: a regular file, its name clean (pathrule.Clean returns it
// unchanged: NFC, no "..", no state dir, ...) and strictly under the requested
// directory, with a SHA-256 hash and a seq in its PAX records (protocol.ArchiveEntryInfo). The first entry that
// fails a check ends the archive with an error: the rest is not trusted. The reader of
// ArchiveTree also takes directory entries: a name ending in one '/', clean and under
// the directory without it, no content, an empty hash and a seq.
type ArchiveReader struct {
	tr     tarReader
	dir    string
	closer io.Closer
	err    error
	dirs   bool // directory entries are expected (ArchiveTree)
	epoch  string
	seq    int64
}

var (
	_ engine.ArchiveReader = (*ArchiveReader)(nil)
	_ engine.TreeReader    = (*ArchiveReader)(nil)
)

// Head implements engine.TreeReader: the snapshot's epoch and seq (ArchiveTree's
// answer headers; empty for an archive of Archive).
func (a *ArchiveReader) Head() (string, int64) { return a.epoch, a.seq }

// tarReader is what ArchiveReader reads the stream with: a tarStream, or an
// archive/tar Reader (the reference the tests compare it with).
type tarReader interface {
	Next() (*tar.Header, error)
	Read([]byte) (int, error)
}

// DecodeArchive reads the archive of directory dir (clean; "" = the root) from r.
func DecodeArchive(r io.Reader, dir string) *ArchiveReader {
	return &ArchiveReader{tr: newTarStream(r), dir: dir}
}

// Next implements engine.ArchiveReader.
func (a *ArchiveReader) Next() (protocol.Metadata, io.Reader, error) {
	if a.err != nil {
		return protocol.Metadata{}, nil, a.err
	}
	m, err := a.next()
	if err != nil {
		a.err = err
		return protocol.Metadata{}, nil, err
	}
	if m.IsDirectory {
		return m, nil, nil
	}
	return m, a.tr, nil
}

func (a *ArchiveReader) next() (protocol.Metadata, error) {
	h, err := a.tr.Next()
	if errors.Is(err, io.EOF) {
		return protocol.Metadata{}, io.EOF
	}
	if err != nil {
		return protocol.Metadata{}, &protocol.Error{Code: protocol.CodeUnavailable, Message: "archive cut or malformed", Err: err}
	}
	bad := func(what string) error {
		return protocol.Errorf(protocol.CodeInternal, "bad archive entry from the server: %s", what)
	}
	name, isDir := h.Name, false
	switch {
	case h.Typeflag == tar.TypeDir && a.dirs:
		name, isDir = strings.TrimSuffix(h.Name, "/"), true
		if name == h.Name || h.Size != 0 {
			return protocol.Metadata{}, bad("malformed directory entry")
		}
	case h.Typeflag != tar.TypeReg:
		return protocol.Metadata{}, bad("not a regular file")
	}
	p, err := pathrule.Clean(name)
	if err != nil || p != name {
		return protocol.Metadata{}, bad("invalid path")
	}
	if p == a.dir || !pathrule.Within(p, a.dir) {
		return protocol.Metadata{}, bad("path outside the requested directory")
	}
	if h.Size < 0 {
		return protocol.Metadata{}, bad("negative size")
	}
	hash, seq, ok := protocol.ArchiveEntryInfo(h.PAXRecords)
	if !ok {
		return protocol.Metadata{}, bad("no hash and seq")
	}
	if isDir {
		if hash != "" || seq < 0 {
			return protocol.Metadata{}, bad("directory with a hash or no valid seq")
		}
		return protocol.Metadata{Path: p, IsDirectory: true, Modified: h.ModTime.UTC(), Seq: seq}, nil
	}
	if !isHexHash(hash) {
		return protocol.Metadata{}, bad("no valid hash")
	}
	if seq < 0 {
		return protocol.Metadata{}, bad("no valid seq")
	}
	return protocol.Metadata{Path: p, Size: h.Size, Modified: h.ModTime.UTC(), Hash: hash, Seq: seq}, nil
}

// Close implements engine.ArchiveReader.
func (a *ArchiveReader) Close() error {
	if a.err == nil {
		a.err = errors.New("archive closed")
	}
	if a.closer != nil {
		return a.closer.Close()
	}
	return nil
}

// isHexHash reports whether s is a lowercase hex SHA-256.
func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f') {
			return false
		}
	}
	return true
}
