package casblobs

import (
	"context"
	"errors"
	"io"
)

// reader reads a blob from an offset it can seek to: each Read after a Seek opens the
// object again at the new offset (a range request on S3).
type reader struct {
	t    *Tenant
	hash string
	size int64
	off  int64
	rc   io.ReadCloser // open at off; nil until the next Read
}

func (r *reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.rc == nil {
		rc, err := r.t.obj.Open(context.Background(), r.t.id, r.hash, r.off, -1)
		if err != nil {
			return 0, err
		}
		r.rc = rc
	}
	n, err := r.rc.Read(p)
	r.off += int64(n)
	return n, err
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("casblobs: seek before the start")
	}
	if offset != r.off && r.rc != nil {
		r.rc.Close()
		r.rc = nil
	}
	r.off = offset
	return offset, nil
}

func (r *reader) Close() error {
	if r.rc == nil {
		return nil
	}
	err := r.rc.Close()
	r.rc = nil
	return err
}
