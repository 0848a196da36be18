package tenants

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"time"

	"github.com/syncspace/syncspace/tenants/index"
)

// Stamps of unchanged directories.
//
// The start-up check (and every full rescan of the watcher) compares each directory
// on disk with its index entries: a readdir with an lstat per child, the index's
// Children query and a comparison per file. When a comparison finds a directory's
// children equal to their entries, it stores a stamp of what it saw (index.DirStamps):
// a digest of the directory's path and of each child's name, type, device and inode,
// and for a file its size, mtime and ctime. The next comparison of that directory
// computes the digest of what it sees again; when it is the stored one, nothing the
// comparison looks at has changed on disk, nor in the index, and the directory is
// skipped (no Children query, no per-file comparison); its subdirectories are still
// visited, each with its own stamp. The per-file lstat stays: an edit in place does
// not change its directory.
//
// Why a matching digest is enough: ctime cannot be set by users, so an edit in place,
// touch -d, chmod, a rename or a replacement each change the digest for good; and the
// index does not change behind a directory whose disk does not: every commit through
// syncd into a directory changes the disk there too (a file is placed by a rename, a
// new inode; a removal or a new name changes the listing), and the reconciler's own
// commits only make the index follow the disk. A stamp is stored only when the
// index, read after the listing, equals it. A lost, stale or foreign stamp therefore
// costs a full comparison, never a wrong answer. Without inode and ctime (a platform
// without fsys.StatMark) nothing is stamped.
//
// A stamp also records when it was taken (less stampSlack: file times come from a
// coarse clock) and the head seq then. When the digest differs, a file whose ctime
// is after that time while its entry is older than that seq was changed since by
// someone other than syncd, and is hashed even if its size and mtime match its entry:
// an edit in place with its mtime set back is found (the comparison alone, which
// trusts size and mtime, would miss it).

const (
	stampVersion = 1
	stampLen     = 1 + 8 + 8 + sha256.Size
	// stampSlack is taken off a stamp's time: a file changed up to this long before
	// the listing may carry a ctime from before it.
	stampSlack = 2 * time.Second
	// stampBatch is how many stamps a walk stores in one write.
	stampBatch = 256
)

// dirStamp is a decoded stamp.
type dirStamp struct {
	taken  int64 // Unix ns, less stampSlack
	head   int64 // the tenant's head seq when it was taken
	digest [sha256.Size]byte
}

func (d *dirStamp) encode() []byte {
	b := make([]byte, 0, stampLen)
	b = append(b, stampVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(d.taken))
	b = binary.BigEndian.AppendUint64(b, uint64(d.head))
	return append(b, d.digest[:]...)
}

// decodeStamp decodes b; nil if b is not a stamp of this version.
func decodeStamp(b []byte) *dirStamp {
	if len(b) != stampLen || b[0] != stampVersion {
		return nil
	}
	d := &dirStamp{taken: int64(binary.BigEndian.Uint64(b[1:])), head: int64(binary.BigEndian.Uint64(b[9:]))}
	copy(d.digest[:], b[17:])
	return d
}

// digestDir is the digest of the directory dir as readDisk found it; ok is false
// when a child has no inode and ctime (no stamps then).
func digestDir(dir string, disk map[string]*diskItem) (sum [sha256.Size]byte, ok bool) {
	items := make([]*diskItem, 0, len(disk))
	for _, d := range disk {
		if !d.marked {
			return sum, false
		}
		items = append(items, d)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].path < items[j].path })
	h := sha256.New()
	var b bytes.Buffer
	b.WriteString("syncspace dir stamp 1\x00")
	b.WriteString(dir)
	b.WriteByte(0)
	for _, d := range items {
		b.WriteString(d.path)
		b.WriteByte(0)
		var n [8]byte
		num := func(v uint64) {
			binary.BigEndian.PutUint64(n[:], v)
			b.Write(n[:])
		}
		num(d.dev)
		num(d.ino)
		if d.isDir {
			// A subdirectory's own times change with its listing, which its own
			// stamp covers.
			b.WriteByte('d')
		} else {
			b.WriteByte('f')
			num(uint64(d.size))
			num(uint64(d.mtime.UnixNano()))
			num(uint64(d.ctime))
		}
		if b.Len() >= 32<<10 {
			h.Write(b.Bytes())
			b.Reset()
		}
	}
	h.Write(b.Bytes())
	h.Sum(sum[:0])
	return sum, true
}

// storedStamp returns dir's stamp in the index, nil if there is none or it is not
// usable: not a stamp of this version, or one from the future (a later time or seq
// than now, as a restored or foreign one may be).
func (w *walk) storedStamp(ctx context.Context, dir string) (*dirStamp, error) {
	b, err := w.s.reg.index.DirStamp(ctx, w.s.id, dir)
	if err != nil || b == nil {
		return nil, err
	}
	d := decodeStamp(b)
	if d == nil || d.head > w.head || d.taken > time.Now().UnixNano() {
		return nil, nil
	}
	return d, nil
}

// forceHash reports whether the file d, whose entry e has its size and mtime, must be
// hashed all the same: changed (ctime) since the stamp prev while e is older.
func forceHash(prev *dirStamp, d *diskItem, e *entry) bool {
	return prev != nil && e != nil && d.marked && e.Seq <= prev.head && d.ctime >= prev.taken
}

// addStamp queues dir's stamp; the walk stores them stampBatch at a time.
func (w *walk) addStamp(ctx context.Context, dir string, sum [sha256.Size]byte) {
	st := &dirStamp{taken: w.taken, head: w.head, digest: sum}
	w.stamps = append(w.stamps, index.DirStamp{Dir: dir, Stamp: st.encode()})
	if len(w.stamps) >= stampBatch {
		w.flush(ctx)
	}
}

// flush stores the queued stamps. A failure is logged: stamps are a cache.
func (w *walk) flush(ctx context.Context) {
	if len(w.stamps) == 0 {
		return
	}
	if err := w.s.reg.index.PutDirStamps(ctx, w.s.id, w.stamps); err != nil && ctx.Err() == nil && !w.s.isClosed() {
		w.s.log.Warn("store directory stamps", "err", err)
	}
	w.stamps = w.stamps[:0]
}
