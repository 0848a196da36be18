package engine

import (
	"context"
	"os"
	"path/filepath"

	"github.com/syncspace/syncspace/sync/chunk"
)

// WriteChunkListForTest plants l as the cached chunk list of the content hash in the
// client folder root (what a damaged or foreign cache would hold).
func WriteChunkListForTest(root, hash string, l []chunk.Chunk) error {
	dir := filepath.Join(root, stateDirName, chunkDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, hash), encodeChunks(l, nil), 0o600)
}

// ChunkListFileForTest is the path of the cached chunk list of hash in root.
func ChunkListFileForTest(root, hash string) string {
	return filepath.Join(root, stateDirName, chunkDirName, hash)
}

// WritePrintedChunkListForTest plants l with prints (the second file format) as the
// cached chunk list of hash in root.
func WritePrintedChunkListForTest(root, hash string, l []chunk.Chunk, prints []chunk.Print) error {
	return os.WriteFile(ChunkListFileForTest(root, hash), encodeChunks(l, prints), 0o600)
}

// ReadChunkListForTest reads the cached chunk list of hash in root and its Prints
// (nil in the first file format).
func ReadChunkListForTest(root, hash string) ([]chunk.Chunk, []chunk.Print, error) {
	b, err := os.ReadFile(ChunkListFileForTest(root, hash))
	if err != nil {
		return nil, nil, err
	}
	return decodeChunks(b)
}

// SetBeforeReplaceForTest makes f run just before a download replaces a synced local
// file (after the last check of it), with the file's path relative to the folder; the
// returned function removes it. Fault injection: f plays the user editing the file in
// that window.
func SetBeforeReplaceForTest(f func(target string)) (restore func()) {
	beforeReplace.Store(&f)
	return func() { beforeReplace.Store(nil) }
}

// RemotePassForTest reads the server's changes and runs the pass of what they touched,
// without looking at the local folder first (what a live engine does when a server
// event arrives before the watcher reports a local change).
func RemotePassForTest(ctx context.Context, e *Engine) error {
	if err := e.catchUp(ctx); err != nil {
		return err
	}
	_, err := e.remotePass(ctx)
	return err
}

// LocalPassForTest runs the pass of a watcher batch of paths against what the engine
// knows of the server now (no catch-up first: what a live engine does when the
// watcher reports a local change before a server event arrives).
func LocalPassForTest(ctx context.Context, e *Engine, paths ...string) error {
	_, err := e.localPass(ctx, paths)
	return err
}
