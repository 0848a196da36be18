package api

import (
	"archive/tar"
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/spaceview"
)

// MIMETar is the content type of GET /api/archive.
const MIMETar = "application/x-tar"

// HeaderArchiveDirs ("1") says that an archive holds the directories too (dirs=1).
const HeaderArchiveDirs = "X-Archive-Dirs"

// archiveBufs holds the buffers archive entries are copied through.
var archiveBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// archive serves GET /api/archive?path=DIR, an addition to SPEC §3 for fast initial
// syncs: an uncompressed tar of every regular file under DIR (recursive; the root by
// default), from one listing snapshot whose epoch and seq are the X-Sync-Epoch and
// X-Sync-Seq headers.
//
// The answer is streamed as the listing goes (tenants.Files): each file is opened
// (through the tenant's root, never following a symlink) when its entry is written, so
// memory stays bounded whatever the tree's size. A file gone since the snapshot is
// skipped; a file changed since is sent as it is now, its PAX "comment" record (hash
// and seq, see protocol.ArchiveComment) describing the content sent. Once the first byte is out the answer cannot turn into
// an error: on a failure the connection is aborted so that the client sees a cut
// stream, never a short archive that looks complete. That includes a client that
// accepts nothing for limits.stream_stall (transport/guard's write deadline); the listing under the
// archive holds no database transaction while it waits (tenants.Space.List).
//
// With dirs=1 the archive also holds every directory under DIR (a tar directory
// entry, its seq in the same "comment" record with an empty hash), in its place in
// the path order, and the answer says so with X-Archive-Dirs: 1: with X-Sync-Epoch
// and X-Sync-Seq it is then the listing too (a first sync into an empty folder reads
// nothing else). A server before dirs=1 ignores it and sends no such header.
func (h *handlers) archive(c echo.Context) error {
	dir, err := dirQuery(c)
	if err != nil {
		return err
	}
	sp, _, err := h.space(c)
	if err != nil {
		return err
	}
	return ServeArchive(c, sp, dir, h.log)
}

// ServeArchive answers with the tar of every file under dir in sp (see archive).
// Share links use it too.
func ServeArchive(c echo.Context, sp *spaceview.View, dir string, log *slog.Logger) error {
	ctx := c.Request().Context()
	dirs, err := guard.Bool(c, "dirs")
	if err != nil {
		return err
	}
	a := &archiver{resp: c.Response(), dir: dir, dirs: dirs, buf: archiveBufs.Get().(*[]byte)}
	defer archiveBufs.Put(a.buf)
	err = sp.Files(ctx, dir, dirs, a.begin, a.entry)
	if err == nil && !a.started {
		err = protocol.Errorf(protocol.CodeInternal, "archive produced no snapshot")
	}
	if err == nil {
		if err = a.tw.Close(); err == nil {
			err = a.bw.Flush()
		}
	}
	if err == nil {
		return nil
	}
	if !a.started {
		return err // an ordinary error answer (not_found, invalid_path, ...)
	}
	if ctx.Err() == nil {
		log.LogAttrs(ctx, slog.LevelWarn, "archive cut", slog.Any("err", err))
	}
	// Abort the connection: the chunked body ends without its last chunk, which the
	// client sees as an unexpected EOF.
	panic(http.ErrAbortHandler)
}

// archiver writes one GET /api/archive answer: begin sends the headers once the
// listing's snapshot is known, entry adds one listed file to the tar stream.
type archiver struct {
	resp    *echo.Response
	dir     string
	dirs    bool // directory entries too (dirs=1)
	bw      *bufio.Writer
	tw      *tar.Writer
	started bool // headers sent: from here on a failure aborts the connection
	hdr     tar.Header
	pax     map[string]string // hdr's PAX records, reused
	raw     []byte            // appendTarHeader's blocks, reused
	buf     *[]byte
}

// begin sends the answer's headers for the snapshot at epoch and seq.
func (a *archiver) begin(epoch string, seq int64) error {
	name := "syncspace"
	if a.dir != "" {
		name = path.Base(a.dir)
	}
	hd := a.resp.Header()
	hd.Set(echo.HeaderContentType, MIMETar)
	hd.Set("Content-Disposition", contentDisposition(name+".tar"))
	hd.Set("Content-Security-Policy", "sandbox")
	hd.Set("X-Sync-Epoch", epoch)
	hd.Set("X-Sync-Seq", strconv.FormatInt(seq, 10))
	if a.dirs {
		hd.Set(HeaderArchiveDirs, "1")
	}
	a.resp.WriteHeader(http.StatusOK)
	a.started = true
	a.bw = bufio.NewWriterSize(a.resp, 64<<10)
	a.tw = tar.NewWriter(a.bw)
	return nil
}

// entry writes one file, m its metadata and r its content (which agree:
// tenants.Files.Each). The header is appendTarHeader's (tar.Writer's bytes) when the
// entry allows, else tar.Writer's own.
func (a *archiver) entry(m protocol.Metadata, r io.Reader) error {
	if m.IsDirectory {
		return a.entryDir(m)
	}
	// Hash and seq in the POSIX "comment" record, which GNU tar and bsdtar ignore
	// without a warning (protocol.ArchiveComment).
	comment := protocol.ArchiveComment(m.Hash, m.Seq)
	hdr, ok := appendTarHeader(a.raw[:0], m.Path, m.Size, m.Modified, comment)
	if !ok {
		return a.entryTar(m, r, comment)
	}
	a.raw = hdr
	// The padding of an entry tar.Writer wrote before, if any.
	if err := a.tw.Flush(); err != nil {
		return err
	}
	if _, err := a.bw.Write(hdr); err != nil {
		return err
	}
	if err := a.body(a.bw, m, r); err != nil {
		return err
	}
	_, err := a.bw.Write(zeroBlock[:-m.Size&(tarBlock-1)])
	return err
}

// zeroBlock pads an entry's content to whole blocks.
var zeroBlock [tarBlock]byte

// entryTar writes one file through tar.Writer.
func (a *archiver) entryTar(m protocol.Metadata, r io.Reader, comment string) error {
	if a.pax == nil {
		a.pax = make(map[string]string, 1)
	}
	a.pax[protocol.ArchivePAXComment] = comment
	a.hdr = tar.Header{
		Typeflag:   tar.TypeReg,
		Name:       m.Path,
		Size:       m.Size,
		Mode:       0o644,
		ModTime:    m.Modified,
		Format:     tar.FormatPAX,
		PAXRecords: a.pax,
	}
	if err := a.tw.WriteHeader(&a.hdr); err != nil {
		return err
	}
	return a.body(a.tw, m, r)
}

// entryDir writes one directory (dirs=1) through tar.Writer: its name ends in '/',
// its seq is in the comment record, with an empty hash.
func (a *archiver) entryDir(m protocol.Metadata) error {
	if a.pax == nil {
		a.pax = make(map[string]string, 1)
	}
	a.pax[protocol.ArchivePAXComment] = protocol.ArchiveComment("", m.Seq)
	a.hdr = tar.Header{
		Typeflag:   tar.TypeDir,
		Name:       m.Path + "/",
		Mode:       0o755,
		ModTime:    m.Modified,
		Format:     tar.FormatPAX,
		PAXRecords: a.pax,
	}
	return a.tw.WriteHeader(&a.hdr)
}

// body copies exactly m.Size bytes of r to w: a file cut or grown on the disk by hand
// fails here rather than producing an entry that disagrees with its header.
func (a *archiver) body(w io.Writer, m protocol.Metadata, r io.Reader) error {
	n, err := io.CopyBuffer(w, io.LimitReader(r, m.Size), *a.buf)
	if err != nil {
		return err
	}
	if n != m.Size {
		return errors.New("archive: file shorter than its index entry")
	}
	return nil
}
