package fsys

// The server's file-store helpers (used by tenants' os.Root store), beside the client's:
//
//   - LinkAt: a second name for a file between two open directories (linkat on
//     unixes; a path-based link on Windows).
//   - DiskFree and IsNoSpace: the free bytes of a file system (statfs /
//     GetDiskFreeSpaceEx) and its "disk full" error.
//   - StatMark: a file's device, inode, size, mtime and ctime from its lstat (Linux
//     and macOS; unavailable elsewhere), to recognise a file the server wrote itself;
//     MarkAt the same of a name in an open directory, in one fstatat (Linux).
//   - OpenPathFD and OpenFileBeneath: on Linux, an O_PATH handle on a directory and
//     one openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) beneath it that refuses every
//     symlink; elsewhere "unavailable" (ok false), and callers use os.Root.

// Mark is what StatMark reads from a file's lstat. Size, Mtime and Ctime (Unix ns) are
// zero for a directory.
type Mark struct {
	IsDir        bool
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64
}
