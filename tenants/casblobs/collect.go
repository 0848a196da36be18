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
	// Logger receives what each pass removed; nil means slog.Default().
	Logger *slog.Logger
}

// Collector removes the blobs that no file or version of the index refers to any
// more, after a grace period, and the blobs of deleted tenants. Run it on one node
// at a time (the leader); two passes at once are still safe (the book's row locks).
// It is not safe for concurrent use.
type Collector struct {
	obj       Objects
	book      Book
	grace     time.Duration
	log       *slog.Logger
	lastAdopt time.Time
}

// Collector returns the store's garbage collector; nil if the store has no book.
func (st *Store) Collector(o CollectorOptions) *Collector {
	if st.book == nil {
		return nil
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Collector{obj: st.obj, book: st.book, grace: o.Grace, log: o.Logger.With("component", "blob-gc")}
}

// Grace returns the collector's grace period.
func (c *Collector) Grace() time.Duration { return c.grace }

// Collect runs one pass: records blobs found in the store without one (on the
// first pass, then daily), marks the blobs nothing refers to, and removes those
// marked for longer than the grace period and the blobs of deleted tenants. It
// returns how many blobs and bytes it removed.
func (c *Collector) Collect(ctx context.Context) (blobs, bytes int64, err error) {
	if c.lastAdopt.IsZero() || time.Since(c.lastAdopt) >= adoptEvery {
		if err := c.adopt(ctx); err != nil {
			return 0, 0, err
		}
		c.lastAdopt = time.Now()
	}
	if _, err := c.book.MarkBlobs(ctx, c.grace); err != nil {
		return 0, 0, err
	}
	remove := func(tid, hash string) error { return c.obj.Delete(ctx, tid, hash) }
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

// adopt records every blob of the store that has no record yet.
func (c *Collector) adopt(ctx context.Context) error {
	var adopted int64
	err := c.obj.Tenants(ctx, func(tid string) error {
		var hashes []string
		var sizes []int64
		flush := func() error {
			n, err := c.book.AdoptBlobs(ctx, tid, hashes, sizes)
			adopted += n
			hashes, sizes = hashes[:0], sizes[:0]
			return err
		}
		err := c.obj.List(ctx, tid, func(i blobkey.Info) error {
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
	return err
}
