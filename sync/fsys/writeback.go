// Early write-back: spreading the cost of a large file's final flush over its writing.

package fsys

// WriteBackEvery is how many written bytes a WriteBehind lets pile up before it asks
// the kernel to start writing them out.
const WriteBackEvery = 8 << 20

// WriteBehind passes writes to File and, every WriteBackEvery bytes, asks the kernel
// to start writing the bytes written so far to the disk without waiting
// (StartWriteback, when File has a descriptor), so the fsync or syncfs
// that later makes the file durable has little left to do. It makes nothing durable
// by itself: that flush is still needed. The file is written sequentially from
// offset 0.
type WriteBehind struct {
	File interface{ Write([]byte) (int, error) }
	off  int64 // bytes written
	done int64 // bytes already handed to write-back
}

// Write writes p to the file.
func (w *WriteBehind) Write(p []byte) (int, error) {
	n, err := w.File.Write(p)
	w.off += int64(n)
	if w.off-w.done >= WriteBackEvery {
		if f, ok := w.File.(Descriptor); ok {
			StartWriteback(f, w.done, w.off-w.done)
		}
		w.done = w.off
	}
	return n, err
}

// Descriptor is a file with an operating-system descriptor (an *os.File).
type Descriptor interface{ Fd() uintptr }
