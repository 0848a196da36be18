package fsys

import "io/fs"

// Times tells how fine the modification times of a folder's file system are: enough
// for the client to decide how long after a file's mtime a hash of it must have been
// taken before an unchanged stat may vouch for it (the "racily clean" rule; see
// Fine). The zero value knows nothing: Fine is always false.
type Times struct {
	dev  uint64 // the folder's device
	fine bool   // its file system is one of finelyTimed's
}

// FolderTimes examines the file system of the folder at the absolute path dir (a
// statfs of it, on Linux and macOS; elsewhere, or on any error, the zero Times).
func FolderTimes(dir string) Times { return folderTimes(dir) }

// Fine reports whether the file fi describes (a fresh stat of a file in the folder)
// has an mtime the kernel stamped from its clock at the resolution of a tick (a few
// milliseconds at worst): the folder's file system is a local one known to store
// nanoseconds (Linux: ext4, XFS, Btrfs, tmpfs, F2FS, ZFS, bcachefs, overlayfs over one
// of them; macOS: APFS), the file lies on it (not on a file system mounted below the
// folder), and its mtime has a sub-second part (ext2 and ext3, and ext4 with small
// inodes, share ext4's magic number but store whole seconds). Network file systems
// (whose times come from another machine's clock), FAT and exFAT, NTFS, FUSE and every
// file system not named are not fine.
func (t Times) Fine(fi fs.FileInfo) bool {
	if !t.fine || fi == nil || fi.ModTime().Nanosecond() == 0 {
		return false
	}
	dev, ok := deviceOf(fi)
	return ok && dev == t.dev
}
