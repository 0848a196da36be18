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

	var (
		mu   sync.Mutex
		done = make(map[*action]bool, len(downloads))
		wg   sync.WaitGroup
	)
	// put writes one entry into place; the archive's metadata is what the download
	// reports (its hash is checked against the content written).
	put := func(a *action, m protocol.Metadata, r io.Reader) {
		err := e.disk.downloadFrom(a, out, pr, func(w io.Writer) (protocol.Metadata, error) {
			_, err := io.Copy(w, r)
			return m, err
		})
		if err != nil {
			if ctx.Err() == nil {
				e.log.Debug("archive entry not written, downloading it alone", "path", a.path, "err", err)
			}
			return
		}
		pr.fileDone()
		mu.Lock()
		done[a] = true
		mu.Unlock()
	}
	type job struct {
		a   *action
		m   protocol.Metadata
		buf *[]byte
	}
	workers := max(e.opts.Transfers, 1)
	jobs := make(chan job, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				put(j.a, j.m, bytes.NewReader((*j.buf)[:j.m.Size]))
				archiveBufs.Put(j.buf)
			}
		}()
	}
	entries, used := 0, 0
	for ctx.Err() == nil {
		m, r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e.log.Warn("archive ended early, downloading the rest file by file", "dir", dir, "err", err)
			break
		}
		entries++
		a, ok := want[m.Path]
		if !ok || a.r.Hash != m.Hash || a.r.Size != m.Size {
			continue // not wanted, or changed since the plan: the per-file path decides
		}
		delete(want, m.Path)
		used++
		er := &errReader{r: r}
		if m.Size <= archiveInline {
			buf := archiveBufs.Get().(*[]byte)
			if _, err := io.ReadFull(er, (*buf)[:m.Size]); err != nil {
				archiveBufs.Put(buf)
				e.log.Warn("archive cut, downloading the rest file by file", "dir", dir, "err", err)
				break
			}
			jobs <- job{a: a, m: m, buf: buf}
			continue
		}
		put(a, m, er)
		if er.err != nil {
			e.log.Warn("archive cut, downloading the rest file by file", "dir", dir, "err", er.err)
			break
		}
	}
	close(jobs)
	wg.Wait()
	e.log.Info("archive done", "dir", dir, "entries", entries, "used", used, "written", len(done))
	return done
}
