package casblobs

import (
	"errors"
	"io"
	"time"
)

// reader reads a blob from an offset it can seek to: each Read after a Seek opens the
// object again at the new offset (a range request on S3). A Read that waits
// Options.StallTimeout for the store ends the request with ErrStalled (the time
// between Reads, a slow consumer's, does not count).
type reader struct {
	t     *Tenant
	hash  string
	size  int64
	off   int64
	stall time.Duration
	rc    io.ReadCloser // open at off; nil until the next Read
	w     *watchdog     // rc's request; armed only during a Read
}

func (r *reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.rc == nil {
		r.w = newWatchdog(r.stall)
		rc, err := r.t.obj.Open(r.w.ctx, r.t.id, r.hash, r.off, -1)
		if err != nil {
			err = r.w.explain(err)
			r.w.stop()
			r.w = nil
			return 0, err
		}
		r.rc = rc
	} else {
		r.w.progress()
	}
	n, err := r.rc.Read(p)
	r.w.timer.Stop()
	r.off += int64(n)
	return n, r.w.explain(err)
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
		r.drop()
	}
	r.off = offset
	return offset, nil
}

func (r *reader) Close() error {
	if r.rc == nil {
		return nil
	}
	return r.drop()
}

// drop closes rc and ends its request.
func (r *reader) drop() error {
	err := r.rc.Close()
	r.w.stop()
	r.rc, r.w = nil, nil
	return err
}
