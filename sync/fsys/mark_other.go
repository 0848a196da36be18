//go:build !linux && !darwin

package fsys

import "io/fs"

// StatMark is unavailable here (ok false): no inode in a Windows stat, and the other
// unixes are not server platforms.
func StatMark(fs.FileInfo) (Mark, bool) { return Mark{}, false }
