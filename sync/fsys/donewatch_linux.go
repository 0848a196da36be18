package fsys

import (
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DoneWatcher reports, in the directories it watches, files closed after writing
// (inotify IN_CLOSE_WRITE). A plain change watcher (fsnotify) sees a write begin but
// not end; this one tells when a writer let go, so that a sync client can take a
// finished file at once instead of waiting for a quiet period. It is a hint on top of
// such a watcher, never the only source: the queue is small and an overflow drops
// events silently. Linux only; elsewhere NewDoneWatcher returns errors.ErrUnsupported.
type DoneWatcher struct {
	f      *os.File
	fd     int
	events chan string

	mu   sync.Mutex
	wds  map[int32]string // watch descriptor → absolute directory
	dirs map[string]int32
}

const doneMask = unix.IN_CLOSE_WRITE | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK

// NewDoneWatcher starts a DoneWatcher with no directory watched; Close ends it.
func NewDoneWatcher() (*DoneWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	w := &DoneWatcher{
		f: os.NewFile(uintptr(fd), "inotify-done"), fd: fd, events: make(chan string, 256),
		wds: map[int32]string{}, dirs: map[string]int32{},
	}
	go w.read()
	return w, nil
}

// Events is the channel of completed changes; it is closed after Close.
func (w *DoneWatcher) Events() DoneEvents { return w.events }

// Add watches the directory at the absolute path dir.
func (w *DoneWatcher) Add(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, err := unix.InotifyAddWatch(w.fd, dir, doneMask)
	if err != nil {
		return err
	}
	if old, ok := w.wds[int32(wd)]; ok && old != dir {
		delete(w.dirs, old) // the same directory under a new name
	}
	w.wds[int32(wd)] = dir
	w.dirs[dir] = int32(wd)
	return nil
}

// Remove stops watching dir (nothing when it is not watched).
func (w *DoneWatcher) Remove(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, ok := w.dirs[dir]
	if !ok {
		return
	}
	delete(w.dirs, dir)
	delete(w.wds, wd)
	_, _ = unix.InotifyRmWatch(w.fd, uint32(wd)) // EINVAL: the kernel dropped it already
}

// Close ends the watcher and closes Events.
func (w *DoneWatcher) Close() error { return w.f.Close() }

// read turns inotify records into Events until Close.
func (w *DoneWatcher) read() {
	defer close(w.events)
	buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue // EINTR and the like; an inotify read has no other failure
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameEnd := off + unix.SizeofInotifyEvent + int(ev.Len)
			if nameEnd > n {
				break
			}
			name := cString(buf[off+unix.SizeofInotifyEvent : nameEnd])
			w.record(ev.Wd, ev.Mask, name)
			off = nameEnd
		}
	}
}

// record reports one inotify record (a directory's watch ending forgets it).
func (w *DoneWatcher) record(wd int32, mask uint32, name string) {
	w.mu.Lock()
	dir, ok := w.wds[wd]
	if mask&unix.IN_IGNORED != 0 && ok {
		delete(w.wds, wd)
		if w.dirs[dir] == wd {
			delete(w.dirs, dir)
		}
	}
	w.mu.Unlock()
	if !ok || name == "" || mask&unix.IN_CLOSE_WRITE == 0 {
		return
	}
	select {
	case w.events <- dir + "/" + name:
	default: // full: a hint, dropped
	}
}

// cString is the NUL-padded name of an inotify record.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
