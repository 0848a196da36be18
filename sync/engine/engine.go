// Package engine is the sync engine of realtime-sync-client (SPEC §1): a three-way
// reconcile of the local folder DIR, the server (through the Remote interface, which
// transport/syncclient implements) and the base, the last state both sides agreed on,
// kept in DIR/.syncspace/state.json.
//
// One goroutine (Run's loop) owns every decision: full reconciles (list + scan), local
// changes reported by fsnotify (debounced), and server events from the WebSocket or the
// changes feed, applied in seq order. Transfers of one pass run in parallel, bounded.
//
// Safety rules: a local file whose current content was never synced is never
// overwritten or deleted (it becomes a conflict copy or is uploaded instead); modify
// beats delete; a pass that would delete more than half of the files (and over 100) on
// either side stops with ErrMassDelete; a vanished DIR stops with ErrRootVanished, and
// Run holds the server deletes of several local deletions until they settle, so that
// an rm of the whole folder is stopped before its deletes reach the server
// (delhold.go); every
// path received from the server is checked with pathrule.Clean and every write goes
// through the fsys.FS opened on DIR (an *os.Root by default, see package fsys).
//
// Parts: the book (book.go) is what is known of the three sides; the run loop (loop,
// loop.go) has one handler per input; a pass plans in three stages (plan.go:
// decidePaths, pairRenames, collapseDeletes) and executes (exec.go) through the
// transfer side (xfer: transfer.go, archive.go) and the local file-system side (disk:
// scan.go, watch.go, apply.go, conflict.go). The engine draws nothing: progress goes
// to Options.Progress.
package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Errors that stop the engine.
var (
	// ErrMassDelete is returned when one pass would delete more than half of the files,
	// and over 100, on either side without Options.AllowMassDelete.
	ErrMassDelete = errors.New("mass delete refused")
	// ErrRootVanished is returned when DIR (or its .syncspace state) disappears, for
	// example an unmounted disk: nothing is deleted on the server.
	ErrRootVanished = errors.New("local folder vanished")
)

// clientIDPattern is SPEC §1's rule for client ids.
var clientIDPattern = regexp.MustCompile(protocol.ClientIDPatternString)

// ValidClientID reports whether id matches ^[A-Za-z0-9._-]{1,64}$.
func ValidClientID(id string) bool { return clientIDPattern.MatchString(id) }

// Options configure an Engine. Root and Remote are required; zero values of the others
// mean the defaults given.
type Options struct {
	// Root is the local folder DIR. It must exist.
	Root string
	// Remote is the server.
	Remote Remote
	// ClientID overrides the client id kept in the state ("" = keep or generate).
	ClientID string
	// Realtime subscribes to the WebSocket push; without it the engine polls the
	// changes feed every Interval.
	Realtime bool
	// Interval is the polling period (default 30 s); also used while the WebSocket is
	// down.
	Interval time.Duration
	// RescanInterval is the period of a full local rescan (default 2 min); a full
	// reconcile with the server's list runs every 5 × RescanInterval.
	RescanInterval time.Duration
	// Debounce is the quiet time after a local change before it is synced (default
	// 50 ms; a burst is cut after 4 × Debounce). On Linux a file closed after writing
	// after Debounce/10 without changes goes at once (see batcher).
	Debounce time.Duration
	// Transfers bounds parallel uploads and downloads (default 16).
	Transfers int
	// InitialSync shows progress bars for the first full reconcile whatever its size.
	// (Every start reconciles fully: offline edits must be found.)
	InitialSync bool
	// AllowMassDelete disables the mass-delete guard.
	AllowMassDelete bool
	// DeleteSettle is how long Run holds the server deletes of a pass that found
	// several local deletions (or one soon after another): they go once no local
	// deletion came for DeleteSettle and DIR is still there (default
	// DefaultDeleteSettle; delhold.go).
	DeleteSettle time.Duration
	// Progress, when non-nil, is called when a pass starts many or large transfers
	// (or, with InitialSync, the first full reconcile's), with their number and total
	// size; what it returns follows them. nil (or a nil Progress returned) shows
	// nothing. The engine itself draws nothing: realtime-sync-client passes bars.
	Progress func(files int, size int64) Progress
	// Logger receives one line per event; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for conflict names; nil means time.Now.
	Now func() time.Time
	// OpenFS opens the local folder (its absolute path) as the file system every
	// local operation goes through; nil means fsys.OpenDir. Tests pass fsys.NewFake
	// to run on a case-insensitive, Windows-rules file system.
	OpenFS func(abs string) (fsys.FS, error)
}

// Engine syncs one folder with one server. Create it with Open, run it with Run or
// SyncOnce, and Close it.
type Engine struct {
	opts     Options
	remote   Remote
	rootPath string      // absolute DIR
	stateDir string      // DIR/.syncspace
	root     fsys.FS     // every local operation goes through it
	rootInfo os.FileInfo // DIR when opened, for the vanished check
	lock     *os.File
	// perFileSync: the platform cannot sync the whole file system (fsys.SyncAll is
	// unsupported, Windows), so each downloaded file is synced before its rename.
	perFileSync bool

	saveMu sync.Mutex // serializes state writes
	saving atomic.Bool
	// The deferred flush (flushmark.go), under book.mu: flushDefer lets saves write
	// a mark naming markCache instead of flushing (the tree pass of SyncOnce);
	// marked says the state file carries a mark or a save writing one is under way.
	flushDefer bool
	markCache  string
	marked     bool

	book // what is known of the three sides, under book.mu

	watch *watcher
	st    *tracker // what Status reports (status.go)
	disk  disk     // the local folder: scan, watch, apply
	xfer  xfer     // the server: transfers and changes
	mark  marker   // the deferred flush (flushmark.go)
	// chunks keeps chunk lists for deltas (nil when the remote cannot take deltas).
	chunks *chunkCache
	// times tells which files have fine mtimes (the racy window: state.go).
	times fsys.Times
}

// Open prepares an engine on opts.Root: it opens DIR, creates DIR/.syncspace (0700),
// takes its lock, loads the state and settles the client id.
func Open(opts Options) (*Engine, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("local folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("local folder %s is not a directory", abs)
	}
	e := &Engine{
		opts:     opts,
		remote:   opts.Remote,
		rootPath: abs,
		stateDir: filepath.Join(abs, stateDirName),
		book:     newBook(opts.Logger),
		st:       newTracker(opts.Logger, opts.Realtime, opts.Interval),
	}
	e.disk, e.xfer, e.mark = disk{e}, xfer{e}, marker{e}
	if _, ok := opts.Remote.(Deltaer); ok {
		e.chunks = newChunkCache(e.stateDir)
	}
	if err := os.Mkdir(e.stateDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	// Owner only: 0700 on unix, a protected DACL for the user on Windows (inherited by
	// the state file and the lock).
	if err := fsys.Private(e.stateDir); err != nil {
		return nil, fmt.Errorf("protect state dir: %w", err)
	}
	if e.lock, err = lockDir(e.stateDir); err != nil {
		return nil, err
	}
	fail := func(err error) (*Engine, error) {
		e.closeFiles()
		return nil, err
	}
	openFS := opts.OpenFS
	if openFS == nil {
		openFS = func(abs string) (fsys.FS, error) { return fsys.OpenDir(abs) }
	}
	if e.root, err = openFS(abs); err != nil {
		return fail(fmt.Errorf("open local folder: %w", err))
	}
	if e.rootInfo, err = os.Stat(abs); err != nil {
		return fail(fmt.Errorf("open local folder: %w", err))
	}
	e.times = fsys.FolderTimes(abs)
	if sn, ok := e.root.(fsys.ShortNamer); ok {
		e.shortNames = sn.ShortNames()
	}
	if p, ok := e.root.(fsys.SyncAllProber); ok {
		e.perFileSync = !p.CanSyncAll() // no flush of the whole file system just to ask
	} else {
		e.perFileSync = errors.Is(e.root.SyncAll(), errors.ErrUnsupported)
	}
	if err := e.adopt(); err != nil {
		return fail(err)
	}
	e.ig = newIgnorer(nil)
	e.disk.loadIgnore()
	if err := e.save(); err != nil {
		return fail(err)
	}
	return e, nil
}

// withDefaults checks opts and fills in the defaults of its zero values.
func withDefaults(opts Options) (Options, error) {
	if opts.Root == "" || opts.Remote == nil {
		return opts, errors.New("engine: Root and Remote are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.RescanInterval <= 0 {
		opts.RescanInterval = 2 * time.Minute
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 50 * time.Millisecond
	}
	if opts.Transfers <= 0 {
		opts.Transfers = 16
	}
	if opts.DeleteSettle <= 0 {
		opts.DeleteSettle = DefaultDeleteSettle
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ClientID != "" && !ValidClientID(opts.ClientID) {
		return opts, fmt.Errorf("invalid client id %q: must match %s", opts.ClientID, protocol.ClientIDPatternString)
	}
	return opts, nil
}

// adopt loads the saved state into the book and settles the client id: a state
// saved under another absolute path (the folder was copied or moved) keeps no base and
// no identity, unless that path still names this very directory (sameDir).
func (e *Engine) adopt() error {
	st, found, err := loadState(e.stateDir)
	if err != nil {
		return err
	}
	abs := e.rootPath
	here := st.Root == abs || sameDir(st.Root, abs)
	e.base, e.local = st.Base, st.Local
	e.epoch, e.seq = st.Epoch, st.Seq
	if st.Unflushed != nil {
		// Even for a state from another path (a moved folder, merged two-way below):
		// a file a crash cut must not be taken for the user's.
		if err := e.mark.clearMark(st.Unflushed); err != nil {
			return err
		}
		e.marked = true // until Open's save, flushed, writes the state without it
	}
	switch {
	case e.opts.ClientID != "":
		e.clientID = e.opts.ClientID
	case st.ClientID != "" && here && ValidClientID(st.ClientID):
		e.clientID = st.ClientID
	default:
		// No state, or state copied from another folder: a new identity.
		e.clientID = uuid.NewString()
	}
	if st.Root != "" && !here {
		// A state found under another path belongs to another copy of the folder:
		// its base cannot be trusted here, merge two-way.
		e.base = map[string]baseEntry{}
		e.epoch, e.seq = "", 0
	}
	// Saved at once unless the file already says the same (a restart with nothing
	// new: no rewrite of a state file of a million entries).
	e.dirty = e.dirty || !found || st.Root != abs || st.ClientID != e.clientID
	return nil
}

// sameDir reports whether the paths a and b name one directory (another spelling of
// the same folder: a symlink on the way, a bind mount), not a copy or a folder made
// since at the old path.
func sameDir(a, b string) bool {
	if a == "" {
		return false
	}
	fa, err := os.Stat(a)
	if err != nil || !fa.IsDir() {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// ClientID returns the client id in use.
func (e *Engine) ClientID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clientID
}

// Head returns the epoch and seq the engine has applied up to.
func (e *Engine) Head() (epoch string, seq int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.epoch, e.seq
}

// Close saves the state and releases the folder's lock.
func (e *Engine) Close() error {
	err := e.save()
	e.closeFiles()
	return err
}

func (e *Engine) closeFiles() {
	if e.watch != nil {
		e.watch.close()
	}
	if e.root != nil {
		e.root.Close()
	}
	if e.lock != nil {
		e.lock.Close()
	}
}

// save writes the state if it changed since the last save.
func (e *Engine) save() error { return <-e.saveAsync() }

// saveAsync starts writing the state if it changed since the last save and returns
// the channel that gets the result. The tables are copied before it returns; the
// flush and the write go on in the background, so the caller may go on changing
// them. Saves are serialized (saveMu, held until the write ends) so that a later
// snapshot is never overwritten by an earlier one.
func (e *Engine) saveAsync() <-chan error {
	done := make(chan error, 1)
	e.saveMu.Lock()
	e.mu.Lock()
	if !e.dirty {
		e.mu.Unlock()
		e.saveMu.Unlock()
		done <- nil
		return done
	}
	p := &persisted{
		Root: e.rootPath, ClientID: e.clientID, Epoch: e.epoch, Seq: e.seq,
		Base: maps.Clone(e.base), Local: maps.Clone(e.local), // a copy of the tables, no rehash
	}
	p.Unflushed = e.mark.markFor(p)
	e.dirty = false
	e.mu.Unlock()
	// Flushed first when the base vouches for anything: an empty base promises nothing
	// about the folder (the first save of a new folder flushes nothing, which on a
	// busy disk could take seconds); a marked state promises only what flushmark.go
	// says.
	syncAll := e.root.SyncAll
	if e.perFileSync || len(p.Base) == 0 || p.Unflushed != nil {
		syncAll = nil
	}
	go func() {
		defer e.saveMu.Unlock()
		if err := e.checkRoot(); err != nil {
			done <- err
			return
		}
		err := saveState(e.stateDir, p, syncAll)
		if err != nil {
			e.mu.Lock()
			e.dirty = true
			e.mu.Unlock()
		} else {
			e.mark.saved(p.Unflushed)
		}
		done <- err
	}()
	return done
}

// checkRoot returns ErrRootVanished if DIR or DIR/.syncspace is gone or DIR is now
// another directory (an unmounted disk leaves an empty mount point behind).
func (e *Engine) checkRoot() error {
	fi, err := os.Stat(e.rootPath)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRootVanished, e.rootPath, err)
	}
	if !os.SameFile(fi, e.rootInfo) {
		return fmt.Errorf("%w: %s is no longer the folder being synced", ErrRootVanished, e.rootPath)
	}
	if fi, err := os.Stat(e.stateDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: %s is gone", ErrRootVanished, e.stateDir)
	}
	return nil
}
