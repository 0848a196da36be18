package fsys

import (
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// fileAttributeTagInfo is FILE_ATTRIBUTE_TAG_INFO.
type fileAttributeTagInfo struct {
	FileAttributes uint32
	ReparseTag     uint32
}

// handleReparseTag returns the reparse tag of the open file h (0 if none or unknown).
func handleReparseTag(h windows.Handle) uint32 {
	var ti fileAttributeTagInfo
	if windows.GetFileInformationByHandleEx(h, windows.FileAttributeTagInfo, (*byte)(unsafe.Pointer(&ti)), uint32(unsafe.Sizeof(ti))) != nil {
		return 0
	}
	return ti.ReparseTag
}

// pathReparseTag returns the reparse tag of the entry at the absolute path abs itself
// (the reparse point is not followed; only its attributes are read, so a cloud
// placeholder is not downloaded), 0 if none or unknown.
func pathReparseTag(abs string) uint32 {
	p, err := windows.UTF16PtrFromString(LongPath(abs))
	if err != nil {
		return 0
	}
	h, err := windows.CreateFile(p, windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return 0
	}
	defer windows.CloseHandle(h)
	return handleReparseTag(h)
}

// regularStat gives a file under the folder at root (name, folder-relative) that Go
// calls irregular its regular mode back when its reparse tag says it has content of
// its own.
func regularStat(root, name string, fi fs.FileInfo) fs.FileInfo {
	if irregularFile(fi.Mode()) && regularReparseTag(pathReparseTag(filepath.Join(root, filepath.FromSlash(name)))) {
		return regularInfo{fi}
	}
	return fi
}

// regularList is regularEntries for the directory name under the folder at root.
func regularList(root, name string, des []fs.DirEntry) []fs.DirEntry {
	dir := filepath.Join(root, filepath.FromSlash(name))
	return regularEntries(des, func(n string) uint32 { return pathReparseTag(filepath.Join(dir, n)) })
}

// regularOpen is regularStat for the open file f.
func regularOpen(f *os.File, fi fs.FileInfo) fs.FileInfo {
	if irregularFile(fi.Mode()) && regularReparseTag(handleReparseTag(windows.Handle(f.Fd()))) {
		return regularInfo{fi}
	}
	return fi
}
