//go:build !linux && !darwin

package fsys

import "io/fs"

// folderTimes knows no file system here (Windows' NTFS included): the zero Times.
func folderTimes(string) Times { return Times{} }

func deviceOf(fs.FileInfo) (uint64, bool) { return 0, false }
