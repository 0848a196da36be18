package casblobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/syncspace/syncspace/tenants/blobkey"
)

// Book is the garbage collector's record of the blobs stored, kept beside the index
// that refers to them (tenants/pgindex.Store, in tenant_blobs). It decides, under
// its own locks, which blobs nothing refers to; Collector only drives it.
type Book interface {
	// TouchBlob records that an upload is about to store the tenant's blob: it is kept
	// for at least the grace period from now. It waits while the blob is being
	// collected, so that the upload then stores it again.
	TouchBlob(ctx context.Context, tenantID, hash string, size int64) error
	// AdoptBlobs records blobs found in the store without a record, as if touched
	// now, and returns how many were new.
	AdoptBlobs(ctx context.Context, tenantID string, hashes []string, sizes []int64) (int64, error)
	// MarkBlobs notes which blobs, touched more than grace ago, nothing refers to now.
	MarkBlobs(ctx context.Context, grace time.Duration) (int64, error)
	// CollectBlobs removes up to limit blobs (through remove, then their records):
	// those of deleted tenants, and those marked more than grace ago that still
	// nothing refers to; none touched less than grace ago. It returns how many blobs
	// and bytes it removed.
	CollectBlobs(ctx context.Context, grace time.Duration, limit int, remove func(tenantID, hash string) error) (n, bytes int64, err error)
}

// TempSweeper is implemented by an Objects store that keeps uploads in progress apart
// from the blobs (tenants/s3blobs: tmp- keys and their multipart uploads;
// tenants/dirblobs: DIR/tmp): SweepTemps removes those last written before before,
// which a node that died in the middle of an upload left, and returns how many.
type TempSweeper interface {
	SweepTemps(ctx context.Context, before time.Time) (int64, error)
}

// minTempAge is the least age of a temporary object the collector removes by default
// (CollectorOptions.TempAge): an upload writes its temporary object from the local
// copy of the content and moves it into place at once, so an hour is far beyond any.
const minTempAge = time.Hour

// DefaultGrace is how long a blob nothing refers to stays before it is collected.
const DefaultGrace = time.Hour

// adoptEvery is how often a Collector lists the whole store for blobs without a
// record (its first pass always does).
const adoptEvery = 24 * time.Hour

// collectBatch is how many blobs one collection transaction removes.
const collectBatch = 100

// CollectorOptions tune a Collector; the zero value is the production setting.
type CollectorOptions struct {
	// Grace is how long a blob stays after the last upload that stored it and after
	// it was first found unreferenced; 0 means DefaultGrace. It must exceed the time
	// an upload takes from storing its blob to its commit (seconds).
	Grace time.Duration
	// TempAge is how long ago a temporary object of an upload (TempSweeper) must have
	// been written last for a pass that lists the store to remove it; 0 means the
	// larger of Grace and an hour.
	TempAge time.Duration
	// Logger receives what each pass removed; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock TempAge is measured against (the temporary objects' times);
	// nil means time.Now. The grace period is the book's clock (the database's).
	Now func() time.Time
}

// Collector removes the blobs that no file or version of the index refers to any
// more, after a grace period, and the blobs of deleted tenants. Run it on one node
// at a time (the leader); two passes at once are still safe (the book's row locks).
// It is not safe for concurrent use.
type Collector struct {
	obj       Objects
	book      Book
	grace     time.Duration
	tempAge   time.Duration
	log       *slog.Logger
	now       func() time.Time
	lastAdopt time.Time
	stall     time.Duration // the store's Options.StallTimeout
}

// Collector returns the store's garbage collector; nil if the store has no book.
func (st *Store) Collector(o CollectorOptions) *Collector {
	if st.book == nil {
		return nil
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.TempAge <= 0 {
		o.TempAge = max(o.Grace, minTempAge)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Collector{obj: st.obj, book: st.book, grace: o.Grace, tempAge: o.TempAge, now: o.Now,
		log: o.Logger.With("component", "blob-gc"), stall: st.stall}
}

// Grace returns the collector's grace period.
func (c *Collector) Grace() time.Duration { return c.grace }

// Collect runs one pass: records blobs found in the store without one and removes
// the temporary objects of uploads that never finished (on the first pass, then
// daily), marks the blobs nothing refers to, and removes those marked for longer than
// the grace period and the blobs of deleted tenants. It returns how many blobs and
// bytes it removed.
func (c *Collector) Collect(ctx context.Context) (blobs, bytes int64, err error) {
	if c.lastAdopt.IsZero() || c.now().Sub(c.lastAdopt) >= adoptEvery {
		if err := c.adopt(ctx); err != nil {
			return 0, 0, err
		}
		c.sweepTemps(ctx)
		c.lastAdopt = c.now()
	}
	if _, err := c.book.MarkBlobs(ctx, c.grace); err != nil {
		return 0, 0, err
	}
	remove := func(tid, hash string) error {
		w := newWatchdogIn(ctx, c.stall)
		defer w.stop()
		return w.explain(c.obj.Delete(w.ctx, tid, hash))
	}
	for {
		n, b, err := c.book.CollectBlobs(ctx, c.grace, collectBatch, remove)
		blobs += n
		bytes += b
		if err != nil || n < collectBatch {
			if blobs > 0 {
				c.log.Info("unreferenced blobs removed", "blobs", blobs, "bytes", bytes)
			}
			return blobs, bytes, err
		}
	}
}

// adopt records every blob of the store that has no record yet. Its listing is
// given up once it goes the store's Options.StallTimeout without progress.
func (c *Collector) adopt(ctx context.Context) error {
	w := newWatchdogIn(ctx, c.stall)
	defer w.stop()
	ctx = w.ctx
	var adopted int64
	err := c.obj.Tenants(ctx, func(tid string) error {
		w.progress()
		var hashes []string
		var sizes []int64
		flush := func() error {
			n, err := c.book.AdoptBlobs(ctx, tid, hashes, sizes)
			w.progress()
			adopted += n
			hashes, sizes = hashes[:0], sizes[:0]
			return err
		}
		err := c.obj.List(ctx, tid, func(i blobkey.Info) error {
			w.progress()
			hashes, sizes = append(hashes, i.SHA256), append(sizes, i.Size)
			if len(hashes) >= 1000 {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		return flush()
	})
	if adopted > 0 {
		c.log.Info("blobs without a record found in the store", "blobs", adopted)
	}
	return w.explain(err)
}

// sweepTemps removes the temporary objects older than c.tempAge, if the store keeps
// any (TempSweeper). A failure is logged: it must not stop the collection.
func (c *Collector) sweepTemps(ctx context.Context) {
	ts, ok := c.obj.(TempSweeper)
	if !ok {
		return
	}
	n, err := ts.SweepTemps(ctx, c.now().Add(-c.tempAge))
	if n > 0 {
		c.log.Info("temporary objects of unfinished uploads removed", "objects", n)
	}
	if err != nil && ctx.Err() == nil {
		c.log.Warn("remove temporary objects of unfinished uploads", "err", err)
	}
}
