package api

import (
	"errors"
	"io"
	"io/fs"
	"sync"
)

// How a download's bytes reach http.ServeContent with few system calls.

// sizeOnly stands for a file's content in http.ServeContent when answering HEAD: it
// seeks (ServeContent learns the size by seeking to the end) but has nothing to read.
// ServeContent reads nothing for HEAD, except in the goroutine writing a multi-range
// body that HEAD discards: that read fails, which ends the goroutine.
type sizeOnly struct {
	size, off int64
}

var errNoContent = errors.New("api: HEAD reads no content")

func (s *sizeOnly) Read([]byte) (int, error) { return 0, errNoContent }

func (s *sizeOnly) Seek(offset int64, whence int) (int64, error) {
	off, err := seekTarget(offset, whence, s.off, s.size)
	if err == nil {
		s.off = off
	}
	return off, err
}

// seekTarget is the position Seek(offset, whence) moves to from cur in a file of size.
func seekTarget(offset int64, whence int, cur, size int64) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += cur
	case io.SeekEnd:
		offset += size
	default:
		return 0, errors.New("api: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("api: negative position")
	}
	return offset, nil
}

// fileContent is an opened file as http.ServeContent reads it. ServeContent seeks to
// the end and back to learn the size (two system calls); fileContent answers that
// from one Stat of the file, which tells the same size, and moves the file's own
// position only when a read needs a position other than the file's.
type fileContent struct {
	f        io.ReadSeeker
	pos      int64 // the position ServeContent asked for
	filePos  int64 // the file's own position
	size     int64
	haveSize bool
}

func (c *fileContent) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekEnd && !c.haveSize {
		st, ok := c.f.(interface{ Stat() (fs.FileInfo, error) })
		if !ok {
			return c.seekFile(offset, whence)
		}
		fi, err := st.Stat()
		if err != nil {
			return 0, err
		}
		c.size, c.haveSize = fi.Size(), true
	}
	if !c.haveSize && whence != io.SeekStart {
		return c.seekFile(offset, whence)
	}
	off, err := seekTarget(offset, whence, c.pos, c.size)
	if err == nil {
		c.pos = off
	}
	return off, err
}

// seekFile seeks the file itself.
func (c *fileContent) seekFile(offset int64, whence int) (int64, error) {
	off, err := c.f.Seek(offset, whence)
	if err == nil {
		c.pos, c.filePos = off, off
	}
	return off, err
}

// raw returns the file itself at the position asked for, for a copy that bypasses c
// (sendfile); c seeks again before its next read.
func (c *fileContent) raw() (io.Reader, error) {
	if err := c.sync(); err != nil {
		return nil, err
	}
	c.filePos = -1
	return c.f, nil
}

// sync moves the file to the position asked for.
func (c *fileContent) sync() error {
	if c.pos == c.filePos {
		return nil
	}
	if _, err := c.f.Seek(c.pos, io.SeekStart); err != nil {
		return err
	}
	c.filePos = c.pos
	return nil
}

func (c *fileContent) Read(p []byte) (int, error) {
	if err := c.sync(); err != nil {
		return 0, err
	}
	n, err := c.f.Read(p)
	c.pos += int64(n)
	c.filePos = c.pos
	return n, err
}

// smallBody is the largest body sent by copying rather than sendfile: net/http sends
// a file through sendfile only after copying its first 512 bytes and flushing the
// header (a read, a write, a sendfile), where a copied small body leaves with the
// header in one write when the handler returns.
const smallBody = 16 << 10

var smallBufs = sync.Pool{New: func() any { return new([smallBody]byte) }}

// copySmall copies the small body lr (at most smallBody bytes) into w.
func copySmall(w io.Writer, lr *io.LimitedReader) (int64, error) {
	buf := smallBufs.Get().(*[smallBody]byte)
	defer smallBufs.Put(buf)
	return io.CopyBuffer(writerOnly{w}, lr, buf[:])
}

// writerOnly hides a writer's ReadFrom from io.CopyBuffer.
type writerOnly struct{ io.Writer }
