package engine

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Remote is what the engine needs from the server (SPEC §3 and §4). It is implemented
// by transport/syncclient; tests may wrap it to inject faults. Every error that comes
// from the server is a *protocol.Error carrying the SPEC code.
type Remote interface {
	// List streams the whole tree (recursive from the root) as one snapshot: head is
	// called first with the snapshot's epoch and seq, then each is called per entry.
	List(ctx context.Context, head func(epoch string, seq int64) error, each func(protocol.Metadata) error) error
	// Download writes the current content of path to w and returns its metadata as
	// the response headers tell it (Hash from the ETag, Seq from X-Sync-Seq).
	Download(ctx context.Context, path string, w io.Writer) (protocol.Metadata, error)
	// Upload stores body (exactly size bytes) at path with the given preconditions.
	// created reports 201 (a new path) against 200.
	Upload(ctx context.Context, path string, body io.Reader, size int64, o UploadOptions) (meta protocol.Metadata, created bool, err error)
	// Delete removes a file, or a directory with Recursive, and returns the seq of the
	// change it made.
	Delete(ctx context.Context, path string, o DeleteOptions) (seq int64, err error)
	// Mkdir creates a directory; created is false when it existed already.
	Mkdir(ctx context.Context, path, clientID string) (meta protocol.Metadata, created bool, err error)
	// Move renames from to to; ifMatch ("" = none) is the source's hash.
	Move(ctx context.Context, from, to, ifMatch, clientID string) (protocol.Metadata, error)
	// Changes returns one page of the change log after since (exclusive).
	Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error)
	// Subscribe opens the WebSocket, authenticates and subscribes. since < 0 means no
	// replay. It returns once the subscription's Ack has arrived.
	Subscribe(ctx context.Context, clientID string, since int64, epoch string) (Stream, protocol.Message, error)
}

// Stream is a live subscription (SPEC §4).
type Stream interface {
	// Recv returns the next server message (FileOperation, ResyncRequired, Error,
	// Ack, Pong). It returns an error once the connection is gone.
	Recv(ctx context.Context) (protocol.Message, error)
	// Close closes the connection; Recv then fails.
	Close() error
}

// UploadOptions are the preconditions and headers of one upload.
type UploadOptions struct {
	// SHA256 is the lowercase hex SHA-256 of the body (X-Content-SHA256), required.
	SHA256 string
	// IfMatch is the hash the server's current content must have ("" = none).
	IfMatch string
	// IfNoneMatch asks the server to refuse if the path exists.
	IfNoneMatch bool
	// Modified is the file's mtime (X-Modified); zero means none.
	Modified time.Time
	// ClientID is sent as X-Sync-Client-Id.
	ClientID string
}

// DeleteOptions are the preconditions of one delete.
type DeleteOptions struct {
	// Recursive deletes a directory with its contents.
	Recursive bool
	// IfMatch is the hash a file must have ("" = none).
	IfMatch string
	// IfSeq refuses a directory delete if anything under it changed after it (0 = none).
	IfSeq int64
	// ClientID is sent as X-Sync-Client-Id.
	ClientID string
}

// Archiver is implemented by a Remote that can send many files in one answer (GET
// /api/archive, syncspace's addition to SPEC §3). It is kept apart from Remote so that
// a Remote without it still works: the engine then downloads file by file. A pass with
// many downloads fetches one archive and falls back to Download for every file the
// archive did not deliver intact.
type Archiver interface {
	// Archive streams every regular file under dir ("" = the root) from one snapshot.
	Archive(ctx context.Context, dir string) (ArchiveReader, error)
}

// TreeArchiver is implemented by a Remote whose archive can also be its listing (GET
// /api/archive?dirs=1): a first sync into an empty folder reads it instead of List
// and a plan (firstsync.go).
type TreeArchiver interface {
	// ArchiveTree streams every directory and regular file of the whole tree from one
	// snapshot, in path order. It returns ErrNoTree when the server's archive holds no
	// directories (a server before dirs=1): the engine then lists as usual.
	ArchiveTree(ctx context.Context) (TreeReader, error)
}

// PathScoper is implemented by a Remote that knows whether its token is path-scoped
// (SPEC §7.5, the `paths` claim). For such a token the changes feed and the live
// events show only what lies inside its paths: gaps in seq are changes outside, and
// a directory moved in arrives as several events with one seq. The engine then reads
// the changes feed after each burst of live events and takes each page as complete up
// to its seq. A Remote without it is taken as unscoped.
type PathScoper interface {
	PathScoped() bool
}

// ErrNoTree is ArchiveTree's error for a server whose archive is not a listing.
var ErrNoTree = errors.New("the server's archive holds no directories")

// TreeReader is the ArchiveReader of ArchiveTree: Next gives directories too.
type TreeReader interface {
	ArchiveReader
	// Head is the snapshot's epoch and seq (what List gives its head).
	Head() (epoch string, seq int64)
}

// ArchiveReader reads the files of one archive in order.
type ArchiveReader interface {
	// Next returns the next file's metadata (Path clean and under the requested
	// directory, Size, Modified, Hash, Seq) and a reader of exactly its content, valid
	// until the following call. A TreeReader also returns directories (IsDirectory,
	// Modified and Seq, no hash) with a nil reader. It returns io.EOF at the end of a complete archive and
	// any other error once the archive cannot be trusted or read further.
	Next() (protocol.Metadata, io.Reader, error)
	// Close ends the archive (abandoning the rest of it).
	Close() error
}
