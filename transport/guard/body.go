package guard

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Defaults of Options (SPEC §5 limits).
const (
	DefaultMinRate = 1024             // bytes per second
	DefaultWindow  = 60 * time.Second // body_window
	DefaultStall   = 60 * time.Second // stream_stall
)

// ErrSlowBody is what a request body read returns once the body fell under the rate
// floor. It is a *protocol.Error bad_request, so a handler may return it as it is.
var ErrSlowBody error = &protocol.Error{Code: protocol.CodeBadRequest, Message: "request body too slow"}

// Options configure Middleware. Zero values mean the defaults.
type Options struct {
	// MinRate (bytes per second) and Window: a body that delivers fewer than
	// MinRate×Window bytes in any Window is cut.
	MinRate int64
	Window  time.Duration
	// Stall: an answer whose writes make no progress for Stall is aborted.
	Stall time.Duration
}

func (o Options) withDefaults() Options {
	if o.MinRate <= 0 {
		o.MinRate = DefaultMinRate
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Stall <= 0 {
		o.Stall = DefaultStall
	}
	return o
}

// Middleware applies the body rate floor, the close-instead-of-drain rule and the
// write-progress deadline (see the package doc) to every request. Mount it first, so
// that every route, error answers included, goes through it.
func Middleware(o Options) echo.MiddlewareFunc {
	o = o.withDefaults()
	need := int64(float64(o.MinRate) * o.Window.Seconds())
	if need < 1 {
		need = 1
	}
	refresh := min(o.Stall/8, time.Second)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			resp := c.Response()
			w := &writer{ResponseWriter: resp.Writer, stall: o.Stall, refresh: refresh, ctx: req.Context(), http1: req.ProtoMajor == 1}
			w.rc = *http.NewResponseController(resp.Writer) // held in w: one allocation less
			var br *bodyReader
			if req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0 {
				br = &bodyReader{r: req.Body, rc: &w.rc, size: req.ContentLength, need: need, window: o.Window, stall: o.Stall, refresh: refresh}
				br.arm()
				req.Body = br
				w.body = br
			}
			resp.Writer = w
			// One write deadline per answer, set here (a keep-alive connection carries
			// the last answer's, which may have passed) and pushed by the answer's
			// writes; what is written outside them gets its own push: the 100 Continue
			// (on the body's first read) and what net/http writes after us (below).
			w.push()
			err := next(c)
			if !w.hijacked {
				w.push()
			}
			if br != nil && !resp.Committed && err == nil {
				// Nothing written (yet): the answer net/http writes after us must not
				// wait on the rest of the body either.
				if br.abandon() {
					markLinger(req.Context())
				}
			}
			return err
		}
	}
}

// bodyReader enforces the rate floor on a request body. The connection's read deadline
// is always one window ahead of the moment the last need bytes were completed; when it
// passes, reads fail with ErrSlowBody and the deadline stays in the past, so that the
// connection is closed, never drained. Once the whole body has arrived the deadline is
// cleared: net/http's background read of the idle connection would otherwise cancel
// the request's context when the deadline passes during a long commit.
type bodyReader struct {
	r      io.ReadCloser
	rc     *http.ResponseController
	size   int64 // Content-Length, -1 if unknown
	need   int64 // bytes per window
	window time.Duration
	// stall and refresh: the first read, which makes net/http write a 100 Continue,
	// pushes the write deadline Stall ahead if the answer's was set over refresh ago.
	stall, refresh time.Duration
	armedAt        time.Time
	read           bool // a read happened

	mu       sync.Mutex
	total    int64 // bytes read so far
	got      int64 // bytes in the current window
	armed    bool  // a deadline of ours is set
	complete bool  // the whole body was read
	err      error // sticky ErrSlowBody
}

func (b *bodyReader) arm() {
	b.armedAt = time.Now()
	b.armed = b.rc.SetReadDeadline(b.armedAt.Add(b.window)) == nil
}

// firstRead pushes the write deadline before the first read, when the one the
// middleware set may no longer leave Stall for the 100 Continue net/http writes then.
func (b *bodyReader) firstRead() {
	b.read = true
	if now := time.Now(); now.Sub(b.armedAt) >= b.refresh {
		_ = b.rc.SetWriteDeadline(now.Add(b.stall))
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	err := b.err
	if !b.read && err == nil {
		b.firstRead()
	}
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := b.r.Read(p) // not under mu: abandon must not wait for a blocked read
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got += int64(n)
	b.total += int64(n)
	if b.armed && !b.complete && b.got >= b.need {
		b.got = 0
		_ = b.rc.SetReadDeadline(time.Now().Add(b.window))
	}
	switch {
	case err == io.EOF || (b.size >= 0 && b.total >= b.size):
		if !b.complete {
			b.complete = true
			if b.armed {
				_ = b.rc.SetReadDeadline(time.Time{})
			}
		}
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		err = ErrSlowBody
		b.err = err
		_ = b.rc.SetReadDeadline(time.Now().Add(-time.Second))
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }

// abandon is called when the answer starts: if the body was not read whole, the read
// deadline goes into the past so that nothing more is read from this connection (what
// net/http finds already buffered it may still consume) and it reports true: the
// connection must close.
func (b *bodyReader) abandon() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.complete {
		return false
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(-time.Second))
	return true
}
