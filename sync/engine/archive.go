package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Thresholds for fetching one archive instead of one GET per file: at least
// archiveMinFiles downloads in the pass, making up at least half of the files (and of
// the bytes) under their common directory on the server.
const (
	archiveMinFiles = 64
	// archiveInline is the largest entry read whole into memory and written by a
	// worker; larger entries stream straight from the archive into their temp file.
	archiveInline = 256 << 10
	// archiveFlushEvery is how many files an archive writes between two flushes of
	// the whole file system started in the background (where the platform has one):
	// the writeback of the first files overlaps the writing of the next, and the
	// flush before the state save (which vouches for them) finds less left to write.
	archiveFlushEvery = 2048
)

// archiveBufs holds the buffers of inline archive entries.
var archiveBufs = sync.Pool{New: func() any { b := make([]byte, archiveInline); return &b }}

// errReader remembers the first read error of the archive stream, which ends the
// archive (as opposed to a failure to write one file locally).
type errReader struct {
	r   io.Reader
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// archiveDir returns the directory whose archive would serve downloads: the deepest
// directory holding all of them, or ok false when the pass is too small or the
// downloads are too small a part of that directory. Caller holds e.mu.
func (e xfer) archiveDir(downloads []*action) (dir string, ok bool) {
	if len(downloads) < archiveMinFiles {
		return "", false
	}
	dir = pathrule.Parent(downloads[0].path)
	var want int64
	for _, a := range downloads {
		for !pathrule.Within(a.path, dir) {
			dir = pathrule.Parent(dir)
		}
		want += a.r.Size
	}
	var files, size int64
	for _, m := range e.remoteM {
		if !m.IsDirectory && pathrule.Within(m.Path, dir) {
			files++
			size += m.Size
		}
	}
	return dir, int64(len(downloads))*2 >= files && want*2 >= size
}

// archiveDownloads fetches the downloads among transfers from one archive of their
// common directory, when the remote can send one and the pass is worth it. Each entry
// the plan wants with the same hash and size goes through downloadFrom, exactly like
// a single download (temp file, hash verified while streaming, re-check before the
// rename); other entries are skipped. It returns the actions it completed (each
// counted in pr); every other transfer is left to the per-file path, so an archive
// that is refused, cut, malformed or hostile costs time, never correctness.
func (e xfer) archiveDownloads(ctx context.Context, transfers []*action, out *outcome, pr *progress) map[*action]bool {
	ar, ok := e.remote.(Archiver)
	if !ok {
		return nil
	}
	var downloads []*action
	for _, a := range transfers {
		if a.op == opDownload && a.rOK && !a.r.IsDirectory {
			downloads = append(downloads, a)
		}
	}
	e.mu.Lock()
	dir, ok := e.archiveDir(downloads)
	e.mu.Unlock()
	if !ok {
		return nil
	}
	want := make(map[string]*action, len(downloads))
	for _, a := range downloads {
		want[a.path] = a
	}
	rd, err := ar.Archive(ctx, dir)
	if err != nil {
		e.log.Info("archive unavailable, downloading file by file", "dir", dir, "err", err)
		return nil
	}
	defer rd.Close()
	e.log.Info("downloading an archive", "dir", dir, "files", len(downloads))
	u := e.newUnpacker(ctx, out, pr)
	entries, used, _ := u.read(rd, dir, func(m protocol.Metadata) *action {
		a, ok := want[m.Path]
		if !ok || a.r.Hash != m.Hash || a.r.Size != m.Size {
			return nil // not wanted, or changed since the plan: the per-file path decides
		}
		delete(want, m.Path)
		return a
	})
	u.wait()
	e.log.Info("archive done", "dir", dir, "entries", entries, "used", used, "written", len(u.done))
	return u.done
}

// newUnpacker returns an unpacker with its workers started (Options.Transfers).
func (e xfer) newUnpacker(ctx context.Context, out *outcome, pr *progress) *unpacker {
	u := &unpacker{e: e, ctx: ctx, out: out, pr: pr, done: map[*action]bool{}}
	if !e.perFileSync {
		u.flush = e.root.SyncAll
	}
	u.start(max(e.opts.Transfers, 1))
	return u
}

// unpacker writes the wanted entries of one archive into place: small entries are
// read whole and written by a pool of workers, large ones stream straight from the
// archive into their temp file.
type unpacker struct {
	e    xfer
	ctx  context.Context
	out  *outcome
	pr   *progress
	mu   sync.Mutex
	done map[*action]bool // the actions completed, under mu
	wg   sync.WaitGroup
	jobs chan unpackJob
	// flush (nil: none) flushes the file system, every archiveFlushEvery files, in
	// the background; flushing (under mu) says one is running, fwg waits for it.
	flush    func() error
	flushing bool
	fwg      sync.WaitGroup
}

// unpackJob is one inline entry for a worker: its action, metadata and content.
type unpackJob struct {
	a   *action
	m   protocol.Metadata
	buf *[]byte
}

// start runs n workers for inline entries.
func (u *unpacker) start(n int) {
	u.jobs = make(chan unpackJob, n)
	for i := 0; i < n; i++ {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			for j := range u.jobs {
				u.put(j.a, j.m, bytes.NewReader((*j.buf)[:j.m.Size]))
				archiveBufs.Put(j.buf)
			}
		}()
	}
}

// wait ends the workers once every queued entry is written, and the background
// flush if one is running.
func (u *unpacker) wait() {
	close(u.jobs)
	u.wg.Wait()
	u.fwg.Wait()
}

// written records a completed action and starts a background flush of the file system
// after every archiveFlushEvery of them, unless one is still running. It only starts
// the writeback early: the flush before the state save still runs.
func (u *unpacker) written(a *action) {
	u.mu.Lock()
	u.done[a] = true
	start := u.flush != nil && !u.flushing && len(u.done)%archiveFlushEvery == 0
	u.flushing = u.flushing || start
	u.mu.Unlock()
	if !start {
		return
	}
	u.fwg.Add(1)
	go func() {
		defer u.fwg.Done()
		_ = u.flush()
		u.mu.Lock()
		u.flushing = false
		u.mu.Unlock()
	}()
}

// put writes one entry into place through disk.downloadFrom; the archive's metadata
// is what the download reports (its hash is checked against the content written).
func (u *unpacker) put(a *action, m protocol.Metadata, r io.Reader) {
	err := u.e.disk.downloadFrom(a, u.out, u.pr, func(w io.Writer) (protocol.Metadata, error) {
		_, err := io.Copy(w, r)
		return m, err
	})
	if err != nil {
		if u.ctx.Err() == nil {
			u.e.log.Debug("archive entry not written, downloading it alone", "path", a.path, "err", err)
		}
		return
	}
	u.pr.fileDone()
	u.written(a)
}

// read walks the archive and hands each entry pick wants (the action that writes
// it; nil: skipped) to a worker or writes it at once; it stops at the end, at ctx's
// end or at the first error of the archive stream. It returns the number of entries
// seen and used, and whether the archive was read to its end.
func (u *unpacker) read(rd ArchiveReader, dir string, pick func(protocol.Metadata) *action) (entries, used int, complete bool) {
	for u.ctx.Err() == nil {
		m, r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return entries, used, true
		}
		if err != nil {
			u.e.log.Warn("archive ended early, downloading the rest file by file", "dir", dir, "err", err)
			break
		}
		entries++
		a := pick(m)
		if a == nil {
			continue
		}
		used++
		er := &errReader{r: r}
		if m.Size <= archiveInline {
			buf := archiveBufs.Get().(*[]byte)
			if _, err := io.ReadFull(er, (*buf)[:m.Size]); err != nil {
				archiveBufs.Put(buf)
				u.e.log.Warn("archive cut, downloading the rest file by file", "dir", dir, "err", err)
				break
			}
			u.jobs <- unpackJob{a: a, m: m, buf: buf}
			continue
		}
		u.put(a, m, er)
		if er.err != nil {
			u.e.log.Warn("archive cut, downloading the rest file by file", "dir", dir, "err", er.err)
			break
		}
	}
	return entries, used, false
}
